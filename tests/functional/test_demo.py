"""tools/demo.sh, the README's first command, run as a person would and stopped with SIGINT.

It must not reinstall a current .venv, must print where the audit trail is
(with the commands to show and verify it) as its last line before serving
and again after the stop, must leave nova's placement errors out of the
sandbox, and must remove older demo sandboxes nothing uses.
"""

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.functional.conftest import need
from tests.functional.conftest import until

from safe_launch import sandbox

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


def test_demo_serves_stops_on_sigint_and_points_at_its_trail(tmp_path):
    if os.path.dirname(sys.executable) != VENV_BIN:
        pytest.skip("the demo runs the repository's .venv, not this interpreter's")
    need(os.path.exists(os.path.join(VENV_BIN, "nova-manage")), "nova is not installed")
    old = tmp_path / "safe-launch-demo.old"
    old.mkdir()
    (old / sandbox.MARKER).touch()
    alien = tmp_path / "safe-launch-demo.alien"     # not a sandbox: never removed
    alien.mkdir()
    directory = tmp_path / "safe-launch-demo.new"
    log = tmp_path / "demo.out"
    with open(log, "wb") as out:
        demo = subprocess.Popen(["bash", os.path.join(ROOT, "tools", "demo.sh")],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, SAFE_LAUNCH_DEMO_DIR=str(directory)),
                                start_new_session=True)
    try:
        text = lambda: log.read_text(errors="replace")             # noqa: E731
        assert until(lambda: "ready: worker" in text(), 300), text()
        # The launcher leads its own process group: SIGINT to it, as Ctrl-C does.
        launcher = int(re.search(r"launching nova-scheduler \(pid (\d+)\)", text()).group(1))
        os.kill(launcher, signal.SIGINT)
        assert demo.wait(180) == 0, text()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    lines = text().splitlines()
    trail = str(directory / "audit.jsonl")
    block = ["demo: audit trail: %s" % trail,
             "demo:   show it:   .venv/bin/safe-launch audit show %s" % trail,
             "demo:   verify it: .venv/bin/safe-launch audit verify %s" % trail]
    assert lines[-3:] == block                      # again after stopping
    first = lines.index(block[0])
    assert lines[first:first + 3] == block
    assert not any(line.startswith("nova-scheduler-safe:") for line in lines[:first])
    assert lines[first + 3].startswith("nova-scheduler-safe: launching")   # last before it
    assert "setup-env: installing" not in text()    # .venv was current: no pip run
    assert not [line for line in lines if " ERROR " in line], text()
    assert not old.exists() and alien.exists()
    assert "removed the old sandbox %s" % old in text()
    # the two commands it printed work
    show = subprocess.run([os.path.join(VENV_BIN, "safe-launch"), "audit", "show", trail],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert show.returncode == 0 and "chain verifies" in show.stdout, show.stdout
    assert "launch.started" in show.stdout and "service.stopped" in show.stdout
    verify = subprocess.run([os.path.join(VENV_BIN, "safe-launch"), "audit", "verify", trail],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert verify.returncode == 0, verify.stdout
