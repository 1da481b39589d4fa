"""The private names of oslo.config, oslo.service, cotyledon and the stdlib
that safe_launch relies on, pinned against the installed (constrained)
versions.  An upgrade that moves one fails here, with the name and the
module of safe_launch that uses it, instead of at a customer's launch.

Each entry: (what uses it, an object, the attribute path).  The uses are
listed in the modules' own docstrings; keep this table and them in step
(tests/unit/test_internals.py::test_every_private_use_is_pinned greps the
sources for private attribute accesses and fails on an unlisted one).
"""

import inspect
import os
import re
import subprocess
import sys

import pytest

from oslo_config import cfg
from oslo_config import iniparser

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "safe_launch")


def _cotyledon_manager():
    import cotyledon
    return cotyledon.ServiceManager


def _threading_launcher():
    from oslo_service.backend._threading import service
    return service.ProcessLauncher


def _signal_handler():
    from oslo_service.backend._eventlet import service
    return service.SignalHandler


def _service_launcher():
    from oslo_service.backend._eventlet import service
    return service.ServiceLauncher


def _threading_module():
    import threading
    return threading


# (user, owner factory, attribute, kind): kind "callable" or "attr"
PINNED = [
    ("argv.cli_opts_of", lambda: cfg.ConfigOpts, "_all_cli_opts", "callable"),
    ("argv (deprecated CLI names)", lambda: cfg.Opt, "_get_deprecated_cli_name", "callable"),
    ("validate.registered_opts", lambda: cfg.ConfigOpts, "_all_opt_infos", "callable"),
    ("masking._option_values", lambda: cfg.ConfigOpts, "_get_opt_info", "callable"),
    ("validate.eager_check (value and location in one read)", lambda: cfg.ConfigOpts,
     "_do_get", "callable"),
    ("configfiles (read_sections)", lambda: iniparser.BaseParser, "parse", "callable"),
    ("configfiles.serving", lambda: cfg.ConfigParser, "parse", "callable"),
    ("signals.adopt (threading)", _cotyledon_manager, "_on_signal_received", "callable"),
    ("signals.adopt (threading)", _cotyledon_manager, "register_hooks", "callable"),
    ("supervise.guard_forks (threading)", _cotyledon_manager, "_start_worker", "callable"),
    ("signals._check_hup_first (eventlet)", _signal_handler, "_handle_signal_cb", "callable"),
    ("signals._serve_in_process (eventlet)", _service_launcher, "_graceful_shutdown",
     "callable"),
    ("signals._serve_in_process (eventlet)", _service_launcher, "_reload_service", "callable"),
    ("signals._serve_in_process (eventlet)", _service_launcher, "_on_timeout_exit", "callable"),
    ("adapters.cinder.mark_patched (cinder's own patch() does it)", _threading_module,
     "_active", "attr"),
    ("service.name_binary (oslo.log's program name: log_dir file, syslog, journal)",
     lambda: __import__("oslo_log.handlers", fromlist=["_"]), "_get_binary_name", "callable"),
]


@pytest.mark.parametrize("user,owner,name,kind", PINNED,
                         ids=["%s:%s" % (p[0], p[2]) for p in PINNED])
def test_private_name_still_exists(user, owner, name, kind):
    target = owner()
    assert hasattr(target, name), (
        "%s uses %s.%s, which the installed version no longer has: adapt %s"
        % (user, target.__qualname__, name, user))
    if kind == "callable":
        assert callable(getattr(target, name))


def test_config_opts_instance_private_state():
    """configfiles._option_files / reload walk ``_groups`` and ``_opts``."""
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt("a"), group="g")
    conf.register_opt(cfg.StrOpt("b"))
    conf.register_cli_opt(cfg.StrOpt("c"))
    assert "g" in conf._groups, "ConfigOpts._groups moved: adapt configfiles and reload"
    assert "b" in conf._opts and "opt" in conf._opts["b"], "ConfigOpts._opts moved: adapt reload"
    assert "a" in conf._groups["g"]._opts, "OptGroup._opts moved: adapt reload"
    assert conf._get_opt_info("a", "g")["opt"].name == "a"
    assert "c" in {o.name for o, g in conf._all_cli_opts()}
    assert {"a", "b", "c"} <= {i["opt"].name for i, g in conf._all_opt_infos()}


def test_threading_launcher_keeps_its_cotyledon_manager_under_manager():
    """signals.manager_of reads ProcessLauncher._manager (set in launch_service)."""
    source = inspect.getsource(_threading_launcher().launch_service)
    assert "self._manager" in source, "ProcessLauncher._manager moved: adapt signals.manager_of"


def test_workers_are_forked_never_spawned():
    """The readiness pipes, the masker and the re-opened audit file are
    inherited by fork; service.fork_only() pins the threading backend to it."""
    from oslo_service.backend._threading import service as threading_service
    assert "start_method" in inspect.signature(threading_service.launch).parameters
    # the backend is chosen once per process: ask a fresh one
    for backend, expected in (("THREADING", {"start_method": "fork"}), ("EVENTLET", {})):
        result = subprocess.run([sys.executable, "-c", (
            "import oslo_service.backend as b; b.init_backend(b.BackendType.%s); "
            "from safe_launch import service; print(service.fork_only())") % backend],
            capture_output=True, text=True, timeout=120)
        assert result.stdout.strip() == repr(expected), result.stderr
    # the value is honoured: fork gives a fork context, whatever the default
    context = threading_service._select_service_manager_context(object(), None, "fork")
    assert context.get_start_method() == "fork"


PRIVATE = re.compile(r"(?<![\w.])(?!self\b|cls\b|os\b|sys\b)(\w+)\._(?!_)(\w+)")
KNOWN = {name for _, _, name, _ in PINNED} | {
    "_groups", "_opts", "_manager", "_exit", "_current_frames",
    # safe_launch's own objects, used inside their own module
    "_content", "_parsed", "_calls", "_closed", "_lock", "_close_fds", "_open_fds",
}


def test_every_private_use_is_pinned():
    """A new ``obj._private`` in safe_launch/ must be pinned here (or be the module's own)."""
    unlisted = []
    for directory, _, files in os.walk(ROOT):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            with open(path) as f:
                for number, line in enumerate(f, 1):
                    code = line.split("#", 1)[0]
                    for match in PRIVATE.finditer(code):
                        if "_" + match.group(2) not in KNOWN:
                            unlisted.append("%s:%d: %s" % (os.path.relpath(path, ROOT),
                                                           number, match.group(0)))
    assert unlisted == [], unlisted


def _package_private_uses(path, package="safe_launch"):
    """``from safe_launch.x import _y`` and ``x._y`` where ``x`` names a module of
    the package, in the source at ``path``: ``[(line, text)]``."""
    import ast
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    modules, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append((node.lineno, "from %s import %s" % (node.module, alias.name)))
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == package and alias.asname:
                    modules.add(alias.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in modules and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append((node.lineno, "%s.%s" % (node.value.id, node.attr)))
    return found


def test_no_module_uses_another_modules_private_names():
    """Each module keeps its private names to itself: what another module needs
    is public (named without ``_``), so a move or a rename shows in one place."""
    used = ["%s:%d: %s" % (os.path.relpath(os.path.join(directory, name), ROOT), line, text)
            for directory, _, files in os.walk(ROOT) for name in files if name.endswith(".py")
            for line, text in _package_private_uses(os.path.join(directory, name))]
    assert used == [], used


def test_the_private_use_scan_sees_both_forms(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from safe_launch.resources import _read\nfrom safe_launch import audit\n"
                    "audit._lock\naudit.open_file\n")
    assert _package_private_uses(str(path)) == [
        (1, "from safe_launch.resources import _read"), (3, "audit._lock")]
