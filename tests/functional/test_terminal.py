"""The launcher on a real pseudo-terminal: Ctrl-C, hangup, a dead console.

Rule: Ctrl-C stops the service with exit 0 and nothing left running, however
it was started (directly as the terminal's job, or from a script, where the
launcher is not a process-group leader); a terminal that goes away (its
master closed: SIGHUP, then EIO on every console write) never stops, kills
or wedges the service, SIGTERM still stops it, and the audit trail verifies.
"""

import fcntl
import os
import signal
import subprocess
import termios
import threading
import time

import pytest

from tests.functional.conftest import bin_path, until
from tests.functional.procs import child_pids, pids_with

PREFIX = "nova-scheduler-safe:"


class Terminal:
    """A pty whose slave is the controlling terminal of a new session running ``argv``.

    The session leader's group is the terminal's foreground group, as a
    shell's foreground job would be.  A thread drains the master, so a full
    pty buffer never blocks the service's writes.
    """

    def __init__(self, argv, env=None):
        self.master, slave = os.openpty()
        self.buffer = bytearray()
        self.lock = threading.Lock()

        def controlling_tty():      # runs in the child, after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, preexec_fn=controlling_tty)
        os.close(slave)
        self.reader = threading.Thread(target=self.drain, daemon=True)
        self.reader.start()

    def drain(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:         # EIO: every slave closed; EBADF: hung up
                return
            if not data:
                return
            with self.lock:
                self.buffer += data

    def output(self):
        with self.lock:
            return self.buffer.decode(errors="replace")

    def type(self, data):
        os.write(self.master, data)

    def hang_up(self):
        """Close the master: the kernel hangs up the slave (SIGHUP, then EIO)."""
        master, self.master = self.master, -1
        os.close(master)
        self.reader.join(5)

    def close(self):
        if self.master >= 0:
            self.hang_up()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def terminal():
    opened = []

    def open_terminal(argv, env=None):
        opened.append(Terminal(argv, env))
        return opened[-1]
    yield open_terminal
    for term in opened:
        term.close()


def ended(term, timeout):
    """The script's exit status; fails with what the terminal showed if it never ends."""
    try:
        return term.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("still running after %ds; the terminal showed:\n%s"
                    % (timeout, term.output()[-3000:]))


def alive(pid):
    """True while ``pid`` exists and is not a zombie (read from /proc, no pgrep)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def running_with(needle):
    """Pids of every live process whose command line contains ``needle``."""
    return [pid for pid in pids_with("cmdline", needle.encode()) if alive(pid)]


def ready(term):
    return "ready:" in term.output()


def launcher_of(term):
    """The launcher's pid: the script's one child (bash forks it, then waits)."""
    children = child_pids(term.proc.pid)
    return children[0] if len(children) == 1 else None


def script(env, tail, head=""):
    """``bash -c '<head> <launcher>; <tail>'``: the launcher is not a group leader."""
    return ["bash", "-c", head + '"$0" --config-file "$1"; ' + tail,
            bin_path("nova-scheduler-safe"), env.conf]


def start_from_script(terminal, env, tail="echo \"done $?\"", head=""):
    term = terminal(script(env, tail, head))
    assert until(lambda: ready(term), 60), term.output()
    launcher = launcher_of(term)
    assert launcher, child_pids(term.proc.pid)
    assert until(lambda: len(child_pids(launcher)) == 1, 10), term.output()
    return term, launcher, child_pids(launcher)


def test_ctrl_c_stops_a_service_started_from_a_script(make_env, terminal):
    env = make_env(workers=1)
    term, launcher, workers = start_from_script(terminal, env)
    term.type(b"\x03")
    assert ended(term, 30) == 0, term.output()
    assert until(lambda: "done " in term.output(), 5), term.output()
    assert "done 0" in term.output(), term.output()
    assert "stop requested (SIGINT)" in term.output()
    assert until(lambda: not running_with(env.conf), 10), running_with(env.conf)
    assert not any(alive(pid) for pid in [launcher] + workers)


def test_ctrl_c_stops_a_service_started_as_the_terminals_job(make_env, terminal):
    env = make_env(workers=1)
    term = terminal([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: ready(term), 60), term.output()
    workers = child_pids(term.proc.pid)
    term.type(b"\x03")
    assert ended(term, 30) == 0, term.output()
    assert "stop requested (SIGINT)" in term.output()
    assert until(lambda: not running_with(env.conf), 10), running_with(env.conf)
    assert not any(alive(pid) for pid in workers)


def test_the_terminal_is_given_back_after_the_service_stops(make_env, terminal):
    """The script runs on in the terminal's foreground: it can read it again."""
    env = make_env(workers=1)
    tail = 'read -r line && echo "read $line"'
    term, launcher, _ = start_from_script(terminal, env, tail)
    os.kill(launcher, signal.SIGTERM)
    assert until(lambda: not alive(launcher), 20), term.output()
    time.sleep(0.5)
    term.type(b"hello\n")
    assert ended(term, 10) == 0, term.output()
    assert "read hello" in term.output(), term.output()


def test_a_closed_terminal_does_not_stop_or_wedge_the_service(make_env, terminal, tmp_path):
    env = make_env(workers=1)
    status = tmp_path / "status"
    # The script survives the hangup (a trap, not an ignored SIGHUP, which
    # the launcher would inherit) to record the launcher's exit status.
    tail = 'echo "$?" > %s' % status
    term, launcher, _ = start_from_script(terminal, env, tail, head="trap 'true' HUP; ")
    term.hang_up()
    before = len(env.services("nova-scheduler"))
    time.sleep(3)           # report_interval is 2 s: the service must go on serving
    assert alive(launcher)
    count = env.services("nova-scheduler")[0][3]
    assert until(lambda: env.services("nova-scheduler")[0][3] > count, 10), \
        "the service stopped reporting after the hangup"
    assert before == 1
    os.kill(launcher, signal.SIGTERM)
    assert until(lambda: not alive(launcher), 15), "SIGTERM ignored after the hangup"
    assert until(lambda: status.exists() and status.read_text().strip(), 10)
    assert status.read_text().strip() == "0"
    assert until(lambda: not running_with(env.conf), 10), running_with(env.conf)
    verify = subprocess.run([bin_path("safe-launch"), "audit", "verify",
                             os.path.join(env.dir, "audit.jsonl")],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with open(os.path.join(env.dir, "audit.jsonl")) as f:
        audit = f.read()
    assert "launch.failed" not in audit
    assert '"service.stopped"' in audit


USAGE_ERRORS = [["nova-scheduler-safe", "--config-f", "x"], ["safe-launch", "--bogus"],
                ["safe-launch", "check", "--config-f", "x"]]


@pytest.mark.parametrize("argv", USAGE_ERRORS)
def test_pythoninspect_never_turns_a_usage_error_into_a_prompt(terminal, argv):
    """On a terminal, PYTHONINSPECT would leave the process waiting at ``>>>``."""
    term = terminal([bin_path(argv[0])] + argv[1:], dict(os.environ, PYTHONINSPECT="1"))
    try:
        code = term.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail("waiting at an interactive prompt: %r" % term.output()[-500:])
    assert code == 64, term.output()
    assert until(lambda: term.output(), 5)
    assert "Traceback" not in term.output() and ">>>" not in term.output(), term.output()


@pytest.mark.parametrize("argv", USAGE_ERRORS)
def test_pythoninspect_without_a_terminal(argv):
    result = subprocess.run([bin_path(argv[0])] + argv[1:], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60,
                            env=dict(os.environ, PYTHONINSPECT="1"))
    assert result.returncode == 64, result.stderr
    assert "Traceback" not in result.stderr and "SystemExit" not in result.stderr


@pytest.mark.parametrize("redirect", ["2>/dev/full 1>/dev/full", "2>&- 1>&-"])
def test_a_console_that_cannot_be_written_fails_open(make_env, redirect):
    """Every write failing (ENOSPC) or no stderr at all: served, stopped by SIGTERM, audited."""
    env = make_env(workers=1)
    trail = os.path.join(env.dir, "audit.jsonl")
    proc = subprocess.Popen(["sh", "-c", 'exec "$@" ' + redirect, "sh",
                             bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def audit():
            try:
                with open(trail) as f:
                    return f.read()
            except OSError:
                return ""
        assert until(lambda: "service.ready" in audit(), 60), audit()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "launch.failed" not in audit() and "service.stopped" in audit()
    verify = subprocess.run([bin_path("safe-launch"), "audit", "verify", trail],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
