"""``safe-launch audit show|verify`` on files that are not a trail.

A FIFO named as FILE (or as --anchor) hung both commands, /dev/zero filled
memory, and /dev/null verified as an intact empty trail (exit 0): every
reader now goes through audit.read_file, which opens without blocking and
refuses anything but a regular file (66).  A record edited into a trail
with a megabyte summary is cut on the terminal as the emitter cuts one.
Run as an operator would: the installed script, bounded.
"""

import json
import os
import subprocess
import sys

import pytest

from safe_launch import events
from tests.unit.test_admin_cli import trail

SAFE_LAUNCH = os.path.join(os.path.dirname(sys.executable), "safe-launch")


def run(*args):
    return subprocess.run([SAFE_LAUNCH, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=20)


@pytest.mark.parametrize("command", ["show", "verify"])
@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/null"])
def test_a_file_that_is_not_regular_is_refused_at_once(tmp_path, command, target):
    if target == "fifo":
        target = str(tmp_path / "trail.fifo")
        os.mkfifo(target)
    done = run("audit", command, target)
    assert done.returncode == 66, (done.returncode, done.stdout, done.stderr)
    assert "not a regular file" in done.stdout + done.stderr


def test_an_anchor_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = str(tmp_path / "anchor.fifo")
    os.mkfifo(fifo)
    path = tmp_path / "audit.jsonl"
    trail(path)                                 # a real trail, records and anchor
    assert run("audit", "verify", str(path)).returncode == 0
    done = run("audit", "verify", str(path), "--anchor", fifo)
    assert done.returncode == 1 and "not a regular file" in done.stdout, done


def test_a_huge_summary_is_cut_on_the_terminal(tmp_path):
    path = str(tmp_path / "audit.jsonl")
    record = {"event": "x", "launch_id": "L" * 100000, "seq": 1, "summary": "B" * 3000000}
    with open(path, "w") as f:
        f.write(json.dumps(record) + "\n")
    done = run("audit", "show", path)
    assert done.returncode == 0, done.stderr
    longest = max(map(len, done.stdout.splitlines()))
    assert longest < 3 * events.MAX_SUMMARY, longest
