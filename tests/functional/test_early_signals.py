"""SIGTERM/SIGINT from the first moment the launcher's own code runs.

Rule: once the interpreter has reached the console script's ``main()``, a
stop request is a clean stop: exit 0, one "stop requested" line and, once
the audit trail is open, its record (the trail verifies).  The residual
window is the interpreter's own start before ``main()`` (site, .pth files,
the entry point's import of ``safe_launch``): there SIGTERM keeps its
default action, which no Python code can change.  test_when_the_stop_holds
measures it on this machine (run with -s to see the figures).

To stop the launch at a chosen point, not at a guessed delay, a
sitecustomize on PYTHONPATH (test instrumentation, not a mock: nothing is
replaced; the launch runs in a plain interpreter that allows PYTHONPATH,
since the console script's isolated one never runs it) holds the import of
one module for a while and says so in a marker file; the test sends the
signal while the import is held.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.functional.conftest import ALLOW_PYTHONPATH, bin_path, raw_tracebacks, unisolated
from tests.functional.conftest import until

PREFIX = "nova-scheduler-safe:"
HOLD = '''\
import os, sys, time

class _Hold:
    """Holds the import of $SL_TEST_HOLD_IMPORT for a while, once."""

    def find_spec(self, name, path=None, target=None):
        if name == os.environ["SL_TEST_HOLD_IMPORT"]:
            sys.meta_path.remove(self)
            open(os.environ["SL_TEST_MARK"], "w").close()
            time.sleep(3)
        return None

if os.environ.get("SL_TEST_HOLD_IMPORT"):
    sys.meta_path.insert(0, _Hold())
'''


def held_env(tmp_path, module):
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOLD)
    env = dict(os.environ, SL_TEST_HOLD_IMPORT=module, SL_TEST_MARK=str(tmp_path / "held"),
               **ALLOW_PYTHONPATH)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    return env


def caught(pid):
    """The signals ``pid`` has handlers for (SigCgt in /proc/PID/status)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return set()
    return {signo for signo in range(1, 65) if mask >> (signo - 1) & 1}


def stop_lines(proc):
    return [line for line in proc.output().splitlines() if "stop requested" in line]


def stop_while_importing(make_env, launch, tmp_path, module, signals=(signal.SIGTERM,)):
    env = make_env(workers=1)
    # Not the console script: its isolated interpreter ignores PYTHONPATH.
    proc = launch(unisolated("nova-scheduler-safe", "safe_launch.cmd.scheduler")
                  + ["--config-file", env.conf], env=held_env(tmp_path, module))
    assert until(lambda: os.path.exists(tmp_path / "held"), 60, interval=0.01), proc.output()
    for signo in signals:
        proc.signal(signo)
    assert proc.wait(30) == 0, proc.output()
    assert len(stop_lines(proc)) == 1, proc.output()
    assert not raw_tracebacks(proc.output()), proc.output()
    assert env.services("nova-scheduler") == []
    return env, proc


def test_sigterm_while_the_launcher_itself_is_imported(make_env, launch, tmp_path):
    """Before the launch's emitter exists: the line alone."""
    _, proc = stop_while_importing(make_env, launch, tmp_path, "safe_launch.launcher")
    assert stop_lines(proc) == [PREFIX + " stop requested (SIGTERM) during startup"]


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT])
def test_stop_while_nova_conf_is_imported(make_env, launch, tmp_path, signo):
    _, proc = stop_while_importing(make_env, launch, tmp_path, "nova.conf", (signo,))
    assert stop_lines(proc) == [PREFIX + " stop requested (%s) during guard" % signo.name]


def test_a_second_sigterm_does_not_break_the_clean_stop(make_env, launch, tmp_path):
    stop_while_importing(make_env, launch, tmp_path, "nova.conf",
                         (signal.SIGTERM, signal.SIGTERM, signal.SIGINT))


def test_sigterm_once_the_audit_trail_is_open_is_recorded(make_env, launch, tmp_path):
    env, proc = stop_while_importing(make_env, launch, tmp_path, "safe_launch.service")
    assert stop_lines(proc) == [PREFIX + " stop requested (SIGTERM) during create"]
    trail = os.path.join(env.dir, "audit.jsonl")
    with open(trail) as f:
        assert '"event": "stop.requested"' in f.read().replace('":"', '": "')
    verify = subprocess.run([bin_path("safe-launch"), "audit", "verify", trail],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_when_the_stop_holds(make_env, launch):
    """SIGTERM at fixed delays after the exec; once main() runs, always a clean stop.

    Each send is classed by what /proc says the process catches just before
    it: nothing yet (exec, interpreter start), SIGINT only (the interpreter
    is up, main() not reached: the residual window), SIGTERM (main() ran
    install_early).
    """
    env = make_env(workers=1)
    seen = []
    for delay in (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5):
        start = time.monotonic()
        proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
        time.sleep(max(0, delay - (time.monotonic() - start)))
        state = caught(proc.pid)
        proc.signal(signal.SIGTERM)
        code = proc.wait(30)
        where = ("main" if signal.SIGTERM in state else
                 "interpreter" if signal.SIGINT in state else "exec")
        seen.append((int(delay * 1000), where, code))
        if where == "main":
            assert code == 0 and len(stop_lines(proc)) == 1, (delay, proc.output())
            assert not raw_tracebacks(proc.output()), proc.output()
        else:       # the residual window: the default action, nothing written
            assert code in (0, -signal.SIGTERM), (delay, code, proc.output())
    print("\nSIGTERM after (ms, reached, exit):", seen, file=sys.stderr)
    assert seen[-1][1:] == ("main", 0), seen


def test_a_check_interrupted_by_a_stop_is_not_reported_ok(make_env, launch, tmp_path):
    """``safe-launch check`` stopped before it finished checked nothing: 75, not "ok"."""
    env = make_env(workers=1)
    proc = launch(unisolated("safe-launch", "safe_launch.cmd.admin")
                  + ["check", "--config-file", env.conf],
                  env=dict(held_env(tmp_path, "safe_launch.patching"), **ALLOW_PYTHONPATH))
    assert until(lambda: os.path.exists(tmp_path / "held"), 60, interval=0.01), proc.output()
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 75, proc.output()
    out = proc.output()
    assert "interrupted (SIGTERM) before the check finished" in out, out
    assert "(exit 75)" in out and "ok (exit" not in out, out
    assert not raw_tracebacks(out), out
