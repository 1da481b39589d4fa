"""The installed ``safe-launch`` console script: options, help, version, pipes, exit codes,
and ``audit show``.

Every test runs the script installed next to the interpreter, as an operator
would; the trails are written by the real AuditFile.
"""

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from safe_launch import audit
from safe_launch.errors import ExitCode
from safe_launch import events
from safe_launch import version

SAFE_LAUNCH = os.path.join(os.path.dirname(sys.executable), "safe-launch")
A = "aaaaaaaa-0000-0000-0000-000000000001"
B = "bbbbbbbb-0000-0000-0000-000000000002"


def run(*args, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run([SAFE_LAUNCH, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, **kw)


def trail(path, records=None):
    """A real trail: two launches interleaved, then one more record of the first."""
    records = records or [
        (A, "2026-12-02T10:00:00.000001Z", events.LAUNCH_STARTED, "pending",
         "launching nova-scheduler (pid 10)"),
        (B, "2026-12-02T11:00:00.000001Z", events.LAUNCH_STARTED, "pending",
         "checking nova-scheduler (pid 11)"),
        (B, "2026-12-02T11:00:01.000001Z", events.LAUNCH_FAILED, "failure",
         "guard: --config-f: unknown option"),
        (A, "2026-12-02T12:00:00.000001Z", "service.ready", "success", "ready"),
    ]
    sink = audit.AuditFile(str(path)).open()
    for n, (launch, ts, event, outcome, summary) in enumerate(records, 1):
        sink.handle(events.Event(launch, n, ts, event, outcome, summary, {"n": n}))
    sink.close()
    return str(path)


@pytest.mark.parametrize("argv", [[], ["check"], ["audit"], ["audit", "verify"],
                                  ["audit", "show"]])
def test_help_on_every_command(argv):
    r = run(*argv, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: safe-launch " + " ".join(argv))
    assert not r.stderr


def test_version_names_safe_launch_and_nova():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == version.versions_line()
    assert r.stdout.startswith("safe_launch %s" % version.of("safe_launch"))
    if version.of("nova"):
        assert r.stdout.strip().endswith(", nova %s" % version.of("nova"))


@pytest.mark.parametrize("argv, suggested", [
    (["check", "--formt", "json"], "--format"),
    (["check", "--form", "json"], "--format"),          # no abbreviations
    (["check", "--servce", "nova-conductor"], "--service"),
    (["audit", "verify", "--no-anch", "FILE"], "--no-anchor"),
    (["audit", "show", "--form", "json", "FILE"], "--format"),
    (["audit", "show", "--lunch", "x", "FILE"], "--launch"),
])
def test_inexact_options_are_refused_with_a_suggestion(argv, suggested):
    r = run(*argv)
    assert r.returncode == ExitCode.USAGE
    assert "(did you mean %s?)" % suggested in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", [[], ["bogus"], ["audit"], ["audit", "verify"],
                                  ["audit", "show", "--format", "xml", "F"]])
def test_usage_errors_exit_64(argv):
    r = run(*argv)
    assert r.returncode == ExitCode.USAGE, r
    assert "usage: safe-launch" in r.stderr and "Traceback" not in r.stderr


def test_options_before_or_after_the_file(tmp_path):
    path = trail(tmp_path / "audit.jsonl")
    before, after = run("audit", "verify", "--no-anchor", path), run("audit", "verify", path,
                                                                     "--no-anchor")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout and "tail unchecked" in before.stdout
    shown = [run("audit", "show", "--event", "launch.*", path, "--format", "json"),
             run("audit", "show", path, "--format", "json", "--event", "launch.*")]
    assert shown[0].stdout == shown[1].stdout and shown[0].returncode == 0


def test_verify_and_show_exit_codes(tmp_path):
    path = trail(tmp_path / "audit.jsonl")
    assert run("audit", "verify", path).returncode == ExitCode.OK
    missing = str(tmp_path / "missing.jsonl")
    for command in ("verify", "show"):
        r = run("audit", command, missing)
        assert r.returncode == ExitCode.NOINPUT == 66
        assert "cannot read" in r.stdout
    data = open(path).read().replace("guard: --config-f", "guard: --config-g")
    open(path, "w").write(data)
    r = run("audit", "verify", path)
    assert r.returncode == ExitCode.TAMPERED == 1 and "FAILED at seq 3" in r.stdout
    r = run("audit", "show", path)              # shows, says so, and is not the proof
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1].startswith("chain does NOT verify (exit 1 from audit verify)")


def test_show_groups_records_by_launch_one_line_each(tmp_path):
    path = trail(tmp_path / "audit.jsonl")
    r = run("audit", "show", path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "launch %s: 2 record(s)" % A
    assert lines[1].split()[:4] == ["2026-12-02T10:00:00.000001Z", "1", A, "launch.started"]
    assert lines[1].endswith("launching nova-scheduler (pid 10)")
    assert lines[2].split()[:4] == ["2026-12-02T12:00:00.000001Z", "4", A, "service.ready"]
    assert lines[3] == "launch %s: 2 record(s)" % B
    assert [line.split()[1] for line in lines[4:6]] == ["2", "3"]
    assert lines[-1].startswith("chain verifies: %s: OK, 4 records, anchored" % path)
    assert "\033" not in r.stdout                   # not a terminal: no colour


@pytest.mark.parametrize("filters, seqs", [
    (["--launch", B], [2, 3]),
    (["--launch", "bbbb"], [2, 3]),                 # a unique start of the id
    (["--launch", A, "--launch", B], [1, 4, 2, 3]),
    (["--since", "2026-12-02T11:00:00Z"], [2, 3, 4]),   # B's launch comes first now
    (["--since", "2026-12-02T12:30:00+01:00"], [4]),
    (["--since", "2026-12-02T11:00:00.5"], [3, 4]),     # naive: UTC
    (["--event", "launch.failed"], [3]),
    (["--event", "launch.*", "--launch", A], [1]),
    (["--launch", "cccc"], []),
])
def test_show_filters(tmp_path, filters, seqs):
    path = trail(tmp_path / "audit.jsonl")
    r = run("audit", "show", path, "--format", "json", *filters)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [rec["seq"] for launch in doc["launches"] for rec in launch["records"]] == seqs
    assert doc["verified"] is True and doc["verification"].endswith("OK, 4 records, anchored")
    assert all(set(rec) == {"ts", "seq", "launch_id", "event", "outcome", "summary", "data"}
               for launch in doc["launches"] for rec in launch["records"])


def test_show_refuses_a_time_that_is_not_one(tmp_path):
    r = run("audit", "show", trail(tmp_path / "audit.jsonl"), "--since", "yesterday")
    assert r.returncode == ExitCode.USAGE and "--since" in r.stderr


def test_show_escapes_what_a_forged_record_holds(tmp_path):
    path = trail(tmp_path / "audit.jsonl", [
        (A, "2026-12-02T10:00:00Z", "launch.started", "pending",
         "evil\x1b]0;owned\x07\nlaunch fake: 9 record(s)")])
    r = run("audit", "show", path)
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout
    assert "launch fake" not in r.stdout.splitlines()[1:][0][:12]
    assert len(r.stdout.splitlines()) == 3          # header, the record, the verdict


def read_pty(argv, env, timeout=60):
    """What ``argv`` writes to a terminal."""
    pid, fd = pty.fork()
    if pid == 0:                                    # the child: exec at once
        os.execve(argv[0], argv, env)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:                     # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path):
    path = trail(tmp_path / "audit.jsonl")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    coloured = read_pty([SAFE_LAUNCH, "audit", "show", path], env)
    assert "\033[31m" in coloured and "launch.failed" in coloured      # the failure, red
    plain = read_pty([SAFE_LAUNCH, "audit", "show", path], dict(env, NO_COLOR="1"))
    assert "launch.failed" in plain and "\033[" not in plain


def test_a_reader_gone_away_is_no_traceback(tmp_path):
    # Enough records that the output cannot fit in the pipe before the reader is gone.
    path = trail(tmp_path / "audit.jsonl", [
        (A, "2026-12-02T10:00:00Z", "worker.started", "success", "x" * 900)] * 200)
    read, write = os.pipe()
    os.close(read)                                  # as `| head -1` does once it has its line
    try:
        r = subprocess.run([SAFE_LAUNCH, "audit", "show", path], stdout=write,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert r.returncode == 0
    assert r.stderr == ""
