"""Every launch, refused or not, ends in the audit trail (hostile-input class 6).

A refusal is what an auditor looks for: the trail opens as soon as its
location is known (right after the argv guard, from [safe_launch] read raw),
so a launch refused in guard, parse or validate still leaves launch.started
and its launch.failed records, and the file verifies.  The trail's
directory gets the config files' parent rules.
"""

import json
import os
import subprocess

import pytest

from safe_launch import audit
from tests.functional.conftest import bin_path

PREFIX = "nova-scheduler-safe:"


def run_safe(args, env=None, timeout=60):
    result = subprocess.run([bin_path("nova-scheduler-safe")] + args, capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, [x for x in result.stderr.splitlines() if x.startswith(PREFIX)]


def records(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def append(conf, text):
    with open(conf, "a") as f:
        f.write(text)


# (name, extra argv, text appended to nova.conf, exit code, phase of the refusal)
REFUSALS = [
    ("guard: unknown option", ["--bogus-option"], "", 64, "guard"),
    ("guard: abbreviation", ["--deb"], "", 64, "guard"),
    ("parse: CLI option's value in a file", [], "\n[DEFAULT]\ndebug = maybe\n", 78, "parse"),
    ("parse: config_source", [], "\n[DEFAULT]\nconfig_source = remote\n", 78, "parse"),
    ("validate: bad value", [], "\n[scheduler]\nmax_attempts = lots\n", 78, "validate"),
    ("validate: typo'd key", [], "\n[oslo_messaging_rabbit]\nssl_ca_fiel = /x\n", 78,
     "validate"),
]


@pytest.mark.parametrize("name, extra, text, code, phase", REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_a_refused_launch_is_in_the_trail(make_env, name, extra, text, code, phase):
    env = make_env()
    append(env.conf, text)
    trail = os.path.join(env.dir, "audit.jsonl")
    got, lines = run_safe(["--config-file", env.conf] + extra)
    assert got == code, lines
    recs = records(trail)
    events = [r["event"] for r in recs]
    assert events[0] == "launch.started", events
    failed = [r for r in recs if r["event"] == "launch.failed"]
    assert failed and all(r["data"]["exit_code"] == code for r in failed), events
    assert {r["data"]["phase"] for r in failed} == {phase}
    # every error line on stderr is one launch.failed record, in the same words
    assert sorted(PREFIX + " " + r["summary"] for r in failed) == sorted(
        x for x in lines if x.startswith("%s %s:" % (PREFIX, phase)))
    assert audit.verify(trail).ok
    assert env.services() == []


def test_the_environment_locates_the_trail_without_a_config_file(make_env, tmp_path):
    """OS_SAFE_LAUNCH__AUDIT_LOG is read as oslo.config reads it, before any file."""
    trail = str(tmp_path / "env-audit.jsonl")
    env = dict(os.environ, OS_SAFE_LAUNCH__AUDIT_LOG=trail)
    code, lines = run_safe(["--config-f", "/nonexistent.conf"], env=env)
    assert code == 64, lines
    assert [r["event"] for r in records(trail)][-1] == "launch.failed"
    assert audit.verify(trail).ok


def test_a_substituted_audit_log_gets_the_whole_launch(make_env):
    """A raw value with $substitution is known only after the parse: the trail
    then opens there, with every record from launch.started on."""
    env = make_env()
    with open(env.conf) as f:
        text = f.read().replace("audit_log = %s/audit.jsonl" % env.dir,
                                "audit_log = $state_path/subst-audit.jsonl")
    with open(env.conf, "w") as f:
        f.write(text + "\n[scheduler]\nmax_attempts = lots\n")
    code, lines = run_safe(["--config-file", env.conf])
    assert code == 78, lines
    trail = os.path.join(env.dir, "subst-audit.jsonl")
    events = [r["event"] for r in records(trail)]
    assert events[0] == "launch.started" and events[-1] == "launch.failed", events
    assert audit.verify(trail).ok


def test_a_trail_in_a_directory_others_can_write_is_refused(make_env, tmp_path):
    """Anyone who can write the directory can delete the trail and its anchor together."""
    env = make_env()
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    trail = str(shared / "audit.jsonl")
    code, lines = run_safe(["--config-file", env.conf],
                           env=dict(os.environ, OS_SAFE_LAUNCH__AUDIT_LOG=trail))
    assert code == 73, lines
    assert any(str(shared) in x and "writable by others" in x for x in lines), lines
    assert not os.path.exists(trail)
    os.chmod(shared, 0o1777)         # sticky and ours: nobody else can swap our entry
    code, lines = run_safe(["--config-file", env.conf, "--bogus"],
                           env=dict(os.environ, OS_SAFE_LAUNCH__AUDIT_LOG=trail))
    assert code == 64, lines
    assert audit.verify(trail).ok


@pytest.mark.parametrize("how", ["writable by others", "symbolic link"])
def test_a_refused_location_leaves_its_refusal_at_the_default_one(make_env, tmp_path, how):
    """The refusal of a trail's own location is on the record too: at the spec's
    default location (the one a launch with no [safe_launch] audit_log writes),
    judged by the same rules, with the refused location named."""
    from safe_launch import spec as specs
    default = specs.NOVA_SCHEDULER.audit_log
    env = make_env()
    if how == "writable by others":
        shared = tmp_path / "shared"
        shared.mkdir()
        os.chmod(shared, 0o777)
        refused = str(shared / "audit.jsonl")
    else:
        refused = str(tmp_path / "link.jsonl")
        os.symlink(str(tmp_path / "elsewhere.jsonl"), refused)
    try:
        before = os.path.getsize(default)
    except FileNotFoundError:
        before = 0
    code, lines = run_safe(["--config-file", env.conf],
                           env=dict(os.environ, OS_SAFE_LAUNCH__AUDIT_LOG=refused))
    assert code == 73, lines
    assert any(refused in x and how in x for x in lines), lines
    if not os.access(os.path.dirname(default), os.W_OK):
        pytest.skip("the default trail location %s is not writable here" % default)
    with open(default, "rb") as f:
        f.seek(before)
        mine = [json.loads(line) for line in f.read().splitlines()]
    events = [r["event"] for r in mine]
    assert events[0] == "launch.started" and events[-1] == "launch.failed", events
    assert refused in mine[-1]["data"]["error"] and mine[-1]["data"]["exit_code"] == 73
    assert not os.path.exists(str(tmp_path / "elsewhere.jsonl"))
    assert not os.path.exists(str(tmp_path / "shared" / "audit.jsonl"))
