"""Launching one scheduler (stock or safe) on a fresh copy of a prepared sandbox.

The template is prepared once with ``safe_launch.sandbox.prepare`` (nova-manage:
api_db sync, cell_v2 map_cell0 / create_cell, db sync); every launch gets its
own copy of the three sqlite databases with the API database's cell mappings
repointed (as tests/functional/conftest.py's NovaEnv does), and its own
nova.conf from ``sandbox.write_conf``, so stock and safe start from identical
state and configuration.
"""

import dataclasses
import datetime
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from safe_launch import sandbox
from tests.functional.procs import child_pids

BIN = os.path.dirname(sys.executable)
DBS = ("nova_api.sqlite", "nova_cell0.sqlite", "nova_cell1.sqlite")
POLL = 0.020        # services row poll interval (s)

# Every process this module started and has not reaped yet: {pid: Tracked}.
LIVE = {}
_live_lock = threading.Lock()


def deploy(template, directory, transport_url, workers=2):
    """A copy of ``template``'s databases in ``directory``; returns the nova.conf path."""
    template, directory = os.path.abspath(template), os.path.abspath(directory)
    os.makedirs(directory, mode=0o750)
    for db in DBS:
        shutil.copyfile(os.path.join(template, db), os.path.join(directory, db))
    api = sqlite3.connect(os.path.join(directory, "nova_api.sqlite"))
    try:
        with api:
            api.execute("UPDATE cell_mappings SET database_connection = "
                        "replace(database_connection, ?, ?), transport_url = ?",
                        (template, directory, transport_url))
    finally:
        api.close()
    return sandbox.write_conf(directory, transport_url, workers)


def services_row(cell_db):
    """Whether the nova-scheduler services row exists (read-only, never creates the file)."""
    try:
        db = sqlite3.connect("file:%s?mode=ro" % cell_db, uri=True, timeout=0.5)
    except sqlite3.OperationalError:
        return False
    try:
        return db.execute("SELECT 1 FROM services WHERE deleted = 0 AND \"binary\" = "
                          "'nova-scheduler' LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError:        # locked, or no table yet
        return False
    finally:
        db.close()


def memory(pid):
    """{"rss": KiB, "pss": KiB} of ``pid`` from /proc/PID/smaps_rollup, None if gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss"):
            out[key.lower()] = int(value.split()[0])
    return out


def start_time(pid):
    """The kernel's start time of ``pid`` (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[19]
    except OSError:
        return None


class Tracked:
    """A started process and every child seen under it (cotyledon forks from a
    thread, and its master calls setsid(), so the process group alone is not
    relied on: each pid is remembered with its start time and killed by pid)."""

    def __init__(self, argv, log_path, env, cwd=None, stdout=None, stdin=None):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=stdin or subprocess.DEVNULL,
                                     stdout=stdout or self.log, stderr=self.log, env=env,
                                     cwd=cwd, start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        self.known = {self.pid: start_time(self.pid)}
        with _live_lock:
            LIVE[self.pid] = self

    def children(self):
        """Child pids of every thread of the process (sorted), remembered for cleanup."""
        pids = child_pids(self.pid)
        for pid in pids:
            self.known.setdefault(pid, start_time(pid))
        return pids

    def stop(self, timeout=30):
        """SIGTERM, wait; then SIGKILL the group and every remembered pid.

        Returns (exit status or None, seconds the graceful stop took or None)."""
        self.children()
        status = elapsed = None
        if self.proc.poll() is None:
            start = time.monotonic()
            try:
                self.proc.send_signal(signal.SIGTERM)
                status = self.proc.wait(timeout)
                elapsed = time.monotonic() - start
            except subprocess.TimeoutExpired:
                pass
        else:
            status = self.proc.returncode
        self.kill()
        return status, elapsed

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid, started in self.known.items():
            if started is not None and start_time(pid) == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        with _live_lock:
            LIVE.pop(self.pid, None)


def kill_all():
    """Kill every process still tracked (on errors and interrupts)."""
    with _live_lock:
        live = list(LIVE.values())
    for tracked in live:
        tracked.kill()


@dataclasses.dataclass
class Launch:
    binary: str
    series: str
    pair: int
    position: int            # 0: first of its pair, 1: second
    ok: bool = False
    error: str = None
    t_row: float = None      # s from exec to the services row
    t_ping: float = None     # s from exec to the first answered RPC ping
    t_fork: float = None     # s from exec to the master's "Selected multiprocessing" log line
    t_worker: float = None   # s from exec to a worker's "Starting scheduler node" log line
    pool_wait: float = None  # s the master spent in nova's reset_all_executors() before forking
    t_reset: float = None    # s from exec to the start of that reset (first "is shutting down")
    master: dict = None      # {"rss", "pss"} KiB at row + settle
    worker: dict = None
    workers: int = None
    exit_status: int = None
    stop_s: float = None
    ready_line: bool = None  # safe only: the "ready:" console line was printed
    audit_before_ready: int = None   # safe only: audit records up to service.ready
    load: float = None       # 1-minute load average at exec


def run_once(binary, conf, env, series, pair, position, pinger=None, settle=2.0,
             timeout=90):
    """Exec ``binary --config-file conf``; time the services row (and ping); sample memory."""
    directory = os.path.dirname(conf)
    cell_db = os.path.join(directory, "nova_cell1.sqlite")
    result = Launch(binary, series, pair, position, load=os.getloadavg()[0])
    argv = [os.path.join(BIN, binary), "--config-file", conf]
    wall0 = time.time()
    t0 = time.monotonic()
    proc = Tracked(argv, os.path.join(directory, "service.log"), env)
    try:
        deadline = t0 + timeout
        while not services_row(cell_db):
            now = time.monotonic()
            if proc.proc.poll() is not None:
                raise RuntimeError("exited %s before registering" % proc.proc.returncode)
            if now > deadline:
                raise RuntimeError("no services row within %ds" % timeout)
            time.sleep(POLL)
        row = time.monotonic()
        result.t_row = row - t0
        if pinger is not None:
            answered = pinger.first_after(t0, deadline - time.monotonic())
            if answered is None:
                raise RuntimeError("no RPC ping answered within %ds" % timeout)
            result.t_ping = answered - t0
        time.sleep(max(0.0, row + settle - time.monotonic()))
        children = proc.children()
        result.workers = len(children)
        result.master = memory(proc.pid)
        result.worker = memory(children[0]) if children else None
        result.ok = result.master is not None and result.worker is not None
        if not result.ok:
            result.error = "no master or worker to sample"
    except Exception as exc:
        result.error = str(exc)
    finally:
        result.exit_status, result.stop_s = proc.stop()
    with open(os.path.join(directory, "service.log"), errors="replace") as f:
        log = f.read().splitlines()
    result.t_fork = _logged(log, "Selected multiprocessing start method", wall0)
    result.t_worker = _logged(log, "Starting scheduler node", wall0)
    result.pool_wait = _pool_wait(log, wall0)
    result.t_reset = _logged([x for x in log if "thread pool MainProcess." in x],
                             "is shutting down", wall0)
    if binary.endswith("-safe"):
        result.ready_line = any(line.startswith(binary + ": ready:") for line in log)
        result.audit_before_ready = _audit_before_ready(os.path.join(directory, "audit.jsonl"))
    if result.ok and result.exit_status != 0:
        result.error = "stopped with status %s" % result.exit_status
    return result


def _logged(lines, text, wall0):
    """Seconds from ``wall0`` to the first oslo.log line containing ``text``.

    oslo.log stamps lines with local wall-clock time to the millisecond;
    ``wall0`` is time.time() taken next to the monotonic exec time.
    """
    for line in lines:
        if text in line:
            try:
                stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f")
            except ValueError:
                continue
            return stamp.timestamp() - wall0
    return None


def _pool_wait(lines, wall0):
    """Seconds between the master's first "thread pool MainProcess.* is shutting down"
    and its last "is shutdown" line (nova's reset_all_executors() before the fork).

    futurist's idle workers poll their queue every second (MAX_IDLE_FOR = 1), and
    shutdown(wait=True) joins them, so each pool costs up to 1 s depending on the
    phase of its thread's poll: usually ~1 s for the first pool and a few ms for
    the second, sometimes ~1 s for both."""
    first = last = None
    for line in lines:
        if "thread pool MainProcess." not in line:
            continue
        if line.rstrip().endswith("is shutting down") and first is None:
            first = _logged([line], "is shutting down", wall0)
        elif line.rstrip().endswith("is shutdown"):
            last = _logged([line], "is shutdown", wall0)
    return last - first if first is not None and last is not None else None


def _audit_before_ready(path):
    import json
    try:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if json.loads(line).get("event") == "service.ready":
                    return number
    except (OSError, ValueError):
        return None
    return None


class Pinger:
    """benchmarks.pinger in its own process; collects the answer timestamps."""

    def __init__(self, url, env, cwd, log_path):
        self.tracked = Tracked([sys.executable, "-m", "benchmarks.pinger", url, "scheduler"],
                               log_path, env, cwd=cwd, stdout=subprocess.PIPE,
                               stdin=subprocess.PIPE)
        self.pongs = []
        self.errors = []
        self.up = threading.Event()
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.tracked.proc.stdout:
            words = raw.decode(errors="replace").split(None, 2)
            if not words:
                continue
            with self.cond:
                if words[0] == "pong":
                    self.pongs.append(float(words[1]))
                elif words[0] == "up":
                    self.up.set()
                elif words[0] == "error":
                    self.errors.append(" ".join(words[2:]).strip())
                self.cond.notify_all()
        self.up.set()

    def wait_up(self, timeout=60):
        return self.up.wait(timeout) and self.tracked.proc.poll() is None

    def first_after(self, t0, timeout):
        """The first answer (monotonic time) after ``t0``, waiting up to ``timeout`` s."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self.cond:
            while True:
                later = [t for t in self.pongs if t > t0]
                if later:
                    return min(later)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.tracked.proc.poll() is not None:
                    return None
                self.cond.wait(remaining)

    def stop(self):
        try:
            self.tracked.proc.stdin.close()
        except OSError:
            pass
        try:
            self.tracked.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.tracked.kill()
