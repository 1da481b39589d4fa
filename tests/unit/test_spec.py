"""The spec is the one description of a service; only adapters import a project."""

import ast
import os
import subprocess
import sys

import pytest

from safe_launch import spec
from safe_launch import validate
from safe_launch import workers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "safe_launch")
PROJECTS = {"nova", "cinder"}


def test_cinder_scheduler_spec_derives_its_project_defaults():
    s = spec.CINDER_SCHEDULER
    assert (s.project, s.package, s.extra, s.topic) == (
        "cinder", "cinder", "cinder", "cinder-scheduler")
    assert s.config_dirs == ("/etc/cinder",)
    assert s.audit_log == "/var/log/cinder/safe-launch-audit.jsonl"
    assert s.known_opts == "cinder.json" and s.prog == "cinder-scheduler-safe"
    assert not s.forks and s.workers_group is None and s.workers_name is None
    assert (s.default_backend, s.backend_opt, s.imports_eventlet) == ("eventlet", None, True)
    assert s.patching_env == "OS_CINDER_DISABLE_EVENTLET_PATCHING"


def test_nova_specs_keep_nova_defaults_and_name_their_own_cadf_type():
    for s in (spec.NOVA_SCHEDULER, spec.NOVA_CONDUCTOR):
        assert s.config_dirs == ("/etc/nova",) and s.known_opts == "nova.json"
        assert s.audit_log == "/var/log/nova/safe-launch-audit.jsonl"
        assert s.forks and s.backend_opt == "concurrency_backend"
    assert spec.NOVA_CONDUCTOR.cadf_type == "service/compute/conductor"
    assert spec.NOVA_SCHEDULER.workers_group == "scheduler"
    assert {r.group for r in spec.NOVA_SCHEDULER.requirements} >= {"database", "api_database"}
    assert "api_database" not in {r.group for r in spec.CINDER_SCHEDULER.requirements}


@pytest.mark.parametrize("service", spec.BUILTIN, ids=lambda s: s.binary)
def test_every_builtin_namespace_is_in_its_data_file(service):
    data = validate._known_opts_json(service.known_opts)
    assert set(service.namespaces) <= set(data["namespaces"])


def test_one_process_is_recorded_with_its_reason():
    decision = workers.ONE_PROCESS
    assert decision.effective == 1 and decision.requested is None
    assert "no workers option" in decision.summary()
    assert decision.as_dict()["reason"] == decision.reason


def _imported_projects(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.partition(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.partition(".")[0])
    return found & PROJECTS


def test_only_the_adapters_import_a_project():
    offenders = {}
    for directory, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(directory, name)
            if not name.endswith(".py") or os.path.dirname(path).endswith("adapters"):
                continue
            projects = _imported_projects(path)
            if projects:
                offenders[os.path.relpath(path, ROOT)] = projects
    assert offenders == {}
    assert _imported_projects(os.path.join(PACKAGE, "adapters", "nova.py")) == {"nova"}
    assert _imported_projects(os.path.join(PACKAGE, "adapters", "cinder.py")) == {"cinder"}


PREFLIGHT = """
import eventlet
from safe_launch import patching
from safe_launch.errors import LaunchError
def outcome(ok):
    try:
        patching.preflight(ok)
        return "accepted"
    except LaunchError as exc:
        return "refused %d: %s" % (exc.code, exc.message)
print(outcome(True))
print(outcome(False))
eventlet.monkey_patch(socket=True, os=False, select=False, thread=False, time=False)
print(outcome(True))
"""


def test_eventlet_imported_but_unpatched_is_accepted_only_where_the_spec_says_so():
    out = subprocess.run([sys.executable, "-c", PREFLIGHT], capture_output=True, text=True,
                         timeout=60, check=True).stdout.splitlines()
    assert out[0] == "accepted"
    assert out[1].startswith("refused 78: eventlet already imported before the launcher")
    assert out[2].startswith("refused 78: already monkey-patched: socket"), out
