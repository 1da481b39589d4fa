"""Running one hostile input against the real launcher and judging what it did.

:func:`run` starts ``nova-scheduler-safe`` (or ``safe-launch check``) in its
own session with a marker in its environment, bounds it (SIGKILL of the
whole group at the deadline), and afterwards finds every process still
carrying the marker in /proc (a worker or helper left running).  With
:class:`JournalTrap` the process runs in a private mount namespace whose
/run/systemd holds a journald socket this test reads: the launcher's own,
unpatched journal sink then sends to it, and no other process on the
machine sees the socket.

:func:`problems` lists every way a result breaks the corpus' rules (exit
code, error lines, tracebacks, control characters, the secret, leftovers,
the audit trail), with the secret redacted, so one test shows them all.
"""

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

from tests.functional import conftest
from tests.functional.conftest import bin_path
from tests.functional.procs import pids_with

PREFIX = "nova-scheduler-safe: "
ERROR_LINE = re.compile(r"^nova-scheduler-safe: (?P<phase>[a-z][a-z_.-]*): (?P<message>\S.*)$")
MARKER = "SAFE_LAUNCH_CORPUS_RUN"
# What a terminal would interpret: C0 controls but tab and newline, DEL, C1, bidi.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@dataclasses.dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    elapsed: float
    timed_out: bool = False
    ready_stopped: bool = False     # a launch expected to be refused became ready
    leftovers: list = dataclasses.field(default_factory=list)
    journal: list = dataclasses.field(default_factory=list)   # datagrams (bytes)
    journal_checked: bool = False
    pid: int = 0
    notes: list = dataclasses.field(default_factory=list)     # from the ``during`` hook

    def error_lines(self):
        return [m for m in map(ERROR_LINE.match, self.stderr.splitlines()) if m]


class JournalTrap:
    """A journald native socket at /run/systemd/journal/socket, for one process only."""

    def __init__(self, directory):
        self.root = os.path.join(directory, "run-systemd")
        os.makedirs(os.path.join(self.root, "journal"))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(os.path.join(self.root, "journal", "socket"))
        self.sock.settimeout(0.1)
        self.datagrams = []
        self._stop = threading.Event()
        # The kernel queues only a few datagrams (net.unix.max_dgram_qlen): drain as they come.
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    @staticmethod
    def usable():
        return (os.geteuid() == 0 and os.path.isdir("/run/systemd")
                and shutil.which("unshare") is not None
                and not os.path.exists("/run/systemd/journal/socket"))

    def wrap(self, argv):
        # unshare and sh exec: the launcher keeps the pid Popen returns.
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" /run/systemd && exec "$@"', self.root] + argv

    def _drain(self):
        while not self._stop.is_set():
            try:
                self.datagrams.append(self.sock.recv(1 << 20))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        time.sleep(0.2)
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.datagrams


def marked_pids(marker):
    """Pids of live processes whose environment carries ``marker``."""
    return pids_with("environ", ("%s=%s\0" % (MARKER, marker)).encode())


def _describe(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return "%d %s" % (pid, f.read().replace(b"\0", b" ").decode(errors="replace")[:120])
    except OSError:
        return str(pid)


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv, env, directory, timeout=20, stdin_pipe=False, journal=None, during=None,
        refused=True):
    """Run ``argv`` (a console script and its arguments) and judge nothing yet.

    ``during(proc, out_path)``, when given, drives the process (signals) and
    returns notes; ``refused``: stop a launch that becomes ready (SIGTERM,
    then SIGKILL) instead of waiting for the deadline.
    """
    marker = uuid.uuid4().hex
    env = dict(env, **{MARKER: marker})
    out_path, err_path = os.path.join(directory, "stdout"), os.path.join(directory, "stderr")
    command = journal.wrap(argv) if journal else argv
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env,
                                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                                start_new_session=True)
    result = Result(code=None, stdout="", stderr="", elapsed=0.0, pid=proc.pid)
    try:
        deadline = start + timeout
        if during is not None:
            result.notes = during(proc, err_path) or []
            # a hook that found a problem has waited long enough already
            deadline = min(deadline, time.monotonic() + (1 if result.notes else 15))
        while proc.poll() is None and time.monotonic() < deadline:
            if refused and _became_ready(err_path):
                result.ready_stopped = True
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass
                break
            time.sleep(0.05)
        if proc.poll() is None:
            result.timed_out = not result.ready_stopped
            _killpg(proc.pid)
        result.code = proc.wait()
    finally:
        if proc.poll() is None:
            _killpg(proc.pid)
            proc.wait()
        if proc.stdin:
            proc.stdin.close()
    result.elapsed = time.monotonic() - start
    left = marked_pids(marker)
    if left:                    # a process exiting right now is not left running
        time.sleep(1)
        left = marked_pids(marker)
    result.leftovers = [_describe(p) for p in left]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _killpg(proc.pid)
    if journal is not None:
        result.journal, result.journal_checked = journal.close(), True
    with open(out_path, errors="replace") as f:
        result.stdout = f.read()
    with open(err_path, errors="replace") as f:
        result.stderr = f.read()
    return result


def _became_ready(err_path):
    with open(err_path, "rb") as f:
        return any(line.startswith(b"nova-scheduler-safe: ready:") for line in f)


def read_records(path):
    """:func:`conftest.read_records`, None when there is no file to read."""
    try:
        return conftest.read_records(path)
    except OSError:
        return None


def launch_records(records, pid):
    """The records of the launch whose ``launch.started`` names ``pid``."""
    ids = {r.get("launch_id") for r in records
           if r.get("event") == "launch.started" and (r.get("data") or {}).get("pid") == pid}
    return [r for r in records if r.get("launch_id") in ids]


def verify(path):
    done = subprocess.run([bin_path("safe-launch"), "audit", "verify", path],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, (done.stdout + done.stderr).strip()


def redact(text, nonce, limit=400):
    text = text.replace(nonce, "<NONCE>")
    text = _CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 256
                        else "\\u%04x" % ord(m.group()), text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclasses.dataclass
class Expect:
    """What one input must end in."""

    code: int
    match: tuple = ()           # regexes, each found in some error line's message
    trail: bool = True          # its launch (and, when refused, launch.failed) in the trail
    check: bool = False         # run through ``safe-launch check --format json``
    seconds: float = 10         # a refusal takes at most this long
    journal: bool = True        # run with a JournalTrap when the machine allows it


def problems(expect, result, nonce, trail_path, anchor_path):
    """Every rule ``result`` breaks, one line each, the nonce redacted."""
    found = []

    def bad(text):
        found.append(redact(text, nonce))

    if result.timed_out:
        bad("hang: still running after %.0fs (SIGKILLed)" % result.elapsed)
    if result.ready_stopped:
        bad("became ready (service started) instead of being refused")
    if result.code != expect.code:
        last = [m.group(0) for m in result.error_lines()][-1:] or \
            result.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        bad("exit %s, expected %d; last line: %s" % (result.code, expect.code, last[0]))
    output = result.stdout + result.stderr
    for line in output.splitlines():
        if line.startswith("Traceback") or "SystemExit" in line:
            bad("traceback: %s" % line)
            break
    control = _CONTROL.search(output)
    if control:
        bad("raw control/bidi character U+%04X in the output" % ord(control.group()))
    if nonce in result.stderr or nonce in result.stdout:
        line = next(x for x in output.splitlines() if nonce in x)
        bad("secret on %s: %s" % ("stderr" if nonce in result.stderr else "stdout", line))
    if result.leftovers:
        bad("left running after exit: %s" % "; ".join(result.leftovers))
    if expect.check:
        found += _check_report(expect, result, nonce)
    else:
        found += _launch_output(expect, result, nonce)
        found += _trail(expect, result, nonce, trail_path, anchor_path)
    for datagram in result.journal:
        if nonce.encode() in datagram:
            bad("secret in a journal datagram: %s" % datagram.decode(errors="replace")[:200])
            break
    return found


def _launch_output(expect, result, nonce):
    found = []
    refused = expect.code != 0
    messages = [m.group("message") for m in result.error_lines()]
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    if refused:
        if not messages:
            found.append("no '%s<phase>: <message>' line on stderr" % PREFIX)
        stray = [x for x in lines if not x.startswith(PREFIX)]
        if stray:
            found.append("stray stderr line (not '%s...'): %s" % (PREFIX, stray[0]))
        forged = [x for x in lines if x.startswith(PREFIX + "ready:")]
        if forged and not result.ready_stopped:
            found.append("a refused launch printed a ready line: %s" % forged[0])
    for pattern in expect.match:
        if not any(re.search(pattern, m) for m in messages):
            found.append("no error line matches /%s/; lines: %s" % (
                pattern, " | ".join(messages[-3:]) or "(none)"))
    return [redact(x, nonce) for x in found]


def _check_report(expect, result, nonce):
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return [redact("check printed no JSON report: %s" % result.stdout[:200], nonce)]
    texts = [w or "" for w in report.get("warnings", [])] + \
        [e.get("message") or "" for e in report.get("errors", [])]
    return [redact("no check error/warning matches /%s/: %s" % (p, " | ".join(texts)), nonce)
            for p in expect.match if not any(re.search(p, t) for t in texts)]


def _trail(expect, result, nonce, path, anchor):
    if not expect.trail:
        return []
    records = read_records(path)
    if records is None:
        return ["no audit trail at %s" % path]
    found = []
    for name in (path, anchor):
        try:
            with open(name, "rb") as f:
                if nonce.encode() in f.read():
                    found.append("secret in %s" % os.path.basename(name))
        except OSError:
            pass
    mine = launch_records(records, result.pid)
    events = [r.get("event") for r in mine]
    if not mine:
        found.append("the launch is not in the audit trail (%d records of other launches)"
                     % len(records))
    elif expect.code != 0:
        failed = [r for r in mine if r.get("event") == "launch.failed"]
        if not failed:
            found.append("no launch.failed record (events: %s)" % ", ".join(events))
        elif not any((r.get("data") or {}).get("exit_code") == expect.code for r in failed):
            found.append("launch.failed records give exit %s" % sorted(
                {(r.get("data") or {}).get("exit_code") for r in failed}))
    else:
        if "launch.failed" in events:
            found.append("launch.failed in the trail of a clean stop")
        if not {"stop.requested", "service.stopped"} & set(events):
            found.append("neither stop.requested nor service.stopped in the trail (%s)"
                         % ", ".join(events))
    code, text = verify(path)
    if code != 0:
        found.append("safe-launch audit verify exits %d: %s" % (code, text))
    return found
