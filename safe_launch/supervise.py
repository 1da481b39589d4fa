"""Wait phase: watch forked workers, report readiness, detect crash loops.

Workers report over a pipe (``starting``/``ready``/``failed`` lines, written
by :class:`safe_launch.service.ReportingService`); the master watches each
reported pid through a pidfd, so a worker that dies before it is ready is
seen whatever killed it, without reaping it behind the backend's back.
"""

import dataclasses
import glob
import os
import signal
import sys
import time

from safe_launch import crashloop
from safe_launch.errors import describe
from safe_launch import events
from safe_launch import native
from safe_launch import recordtype

PIPE_BUF = 4096


def children(pid=None):
    """Child pids of every thread of ``pid`` (default: this process), sorted.

    cotyledon forks its workers from a thread, so /proc/PID/children alone
    misses them.
    """
    pids = []
    for path in glob.glob("/proc/%d/task/*/children" % (pid or os.getpid())):
        try:
            with open(path) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            continue
    return sorted(pids)


class WorkerReports:
    """The pipes between the master and its forked workers.

    Reports go from workers (writers) to the master (reader).  A second
    pipe, never written, ties each worker's life to the master's: only the
    master keeps its write end, so when the master dies however it dies
    (SIGKILL included) the workers read EOF and kill themselves.  (The
    kernel's parent-death signal would not do: it follows the forking
    *thread*, which cotyledon ends before stopping its workers.)
    """

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        self.master = os.getpid()
        self._master_r, self._master_w = os.pipe()

    def die_with_master(self):
        """Worker side, once after fork: end this worker when the master is gone.

        Nothing in the master itself (a single-process backend serves there).
        """
        if os.getpid() == self.master:
            return
        os.close(self._master_w)

        def watch():
            while True:
                try:
                    if not os.read(self._master_r, 1):
                        break
                except InterruptedError:
                    continue
            os.kill(os.getpid(), signal.SIGKILL)
        native.module("threading").Thread(target=watch, name="safe_launch-master-link",
                                          daemon=True).start()

    def send(self, kind, detail=""):
        """Worker side: one atomic line (shorter than PIPE_BUF)."""
        line = "%s %d %s" % (kind, os.getpid(), " ".join(detail.split()))
        os.write(self.write_fd, line.encode("utf-8", "replace")[:PIPE_BUF - 1] + b"\n")


# What a starting worker waits on, by the modules on its stack (innermost first).
_DEPENDENCIES = (
    (("pymysql", "MySQLdb", "psycopg2", "sqlite3", "sqlalchemy", "oslo_db"), "the database"),
    (("amqp", "kombu", "oslo_messaging"), "the message bus"),
    (("keystoneauth1", "requests", "urllib3", "http.client"),
     "an HTTP service (keystone, placement)"),
)


def dependency_of(modules):
    """What a stack whose frames' module names are ``modules`` (innermost first)
    waits on, or None.  Pure: the worker's start-up sampler calls it."""
    for module in modules:
        root = (module or "").split(".")[0]
        for prefixes, what in _DEPENDENCIES:
            if module in prefixes or root in prefixes:
                return what
    return None


def report_waiting(reports, thread_id, done, interval=1.0):
    """Worker side: while ``done`` is unset, tell the master what thread
    ``thread_id`` (the one running the service's start) waits on."""
    def modules(frame):
        names = []
        while frame is not None:
            names.append(frame.f_globals.get("__name__"))
            frame = frame.f_back
        return names

    def sample():
        last = None
        while not done.wait(interval):
            # The start's own thread first; then any other (oslo.messaging
            # connects from threads of its own).
            frames = sys._current_frames()
            first = frames.pop(thread_id, None)
            what = None
            for frame in [first] + list(frames.values()):
                what = what or dependency_of(modules(frame))
            if what != last and what is not None:
                reports.send("waiting", what)
                last = what
    native.module("threading").Thread(target=sample, name="safe_launch-start-sampler",
                                      daemon=True).start()


class ServeOutcome(recordtype.Mutable):
    """What the wait phase observed (filled in by the monitor thread)."""

    ready_at: float = None        # when the first worker became ready
    failures: list = dataclasses.field(default_factory=list)   # before ready, in a row
    quick_deaths: list = dataclasses.field(default_factory=list)  # soon after ready, in a row
    crash_cause: str = None
    start_timed_out: bool = False  # no worker ready within start_timeout
    stopping: bool = False
    reloading: bool = False       # restarted workers not all serving yet
    reload_timed_out: bool = False  # none of them served within reload_timeout
    fork_refused: str = None      # the OS refused to fork a worker (why)


def fork_refused_reason(exc, getrlimit=None):
    """``exc`` (forking a worker failed) and the limit that most likely refused it."""
    import errno
    import resource
    getrlimit = getrlimit or resource.getrlimit
    line = describe(exc)
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        return "%s (RLIMIT_NOFILE %d)" % (line, getrlimit(resource.RLIMIT_NOFILE)[0])
    if exc.errno == errno.EAGAIN:
        return "%s (RLIMIT_NPROC %d, or the cgroup's pids.max)" % (
            line, getrlimit(resource.RLIMIT_NPROC)[0])
    return line


def guard_forks(manager, on_refused):
    """Report a worker the OS refuses to fork instead of losing the backend.

    The threading backend forks (and respawns) every worker from cotyledon's
    supervisor thread; an ``OSError`` there (EMFILE creating the worker's
    pipes under a low RLIMIT_NOFILE, EAGAIN under RLIMIT_NPROC or pids.max,
    ENOMEM) killed that thread with a raw traceback: no worker was ever
    forked or respawned again and the launcher waited for the start deadline
    (75, blaming nothing).  ``on_refused(exc)`` is called instead and the
    thread lives on for the stop.  ``manager``: :func:`signals.manager_of`
    the backend's launcher.  False: no such manager (eventlet: its fork
    raises in the master's own thread, classified there).
    """
    start = getattr(manager, "_start_worker", None)
    if start is None:
        return False

    def start_worker(*args, **kwargs):
        try:
            return start(*args, **kwargs)
        except OSError as exc:
            on_refused(exc)
    manager._start_worker = start_worker
    return True


class Monitor:
    """Master side: reads worker reports and watches their pids.

    ``on_ready(pid, reloaded)``: the first worker serves (``reloaded`` False),
    or, after a reload, as many workers as before serve again.
    ``on_change()``: what :meth:`counts` returns has changed (STATUS=).
    """

    def __init__(self, reports, policy, emitter, on_ready, on_crash_loop, clock=time.monotonic,
                 tick=None, tick_interval=None, on_change=None, start_timeout=None,
                 on_start_timeout=None, reload_timeout=None, on_reload_timeout=None):
        self.tick = tick                   # called every tick_interval s (watchdog)
        self.tick_interval = tick_interval
        self.reports = reports
        self.policy = policy
        self.emitter = emitter
        self.on_ready = on_ready
        self.on_crash_loop = on_crash_loop
        self.on_change = on_change or (lambda: None)
        self.start_timeout = start_timeout
        self.on_start_timeout = on_start_timeout
        self.reload_timeout = reload_timeout
        self.on_reload_timeout = on_reload_timeout
        self._reloads = 0          # which reload a deadline thread belongs to
        self._waiting = {}         # pid -> what a starting worker waits on
        self.clock = clock
        self.outcome = ServeOutcome()
        self._select = native.module("select")
        self._lock = native.module("threading").Lock()
        self._poll = self._select.poll()
        self._pidfds = {}          # pidfd -> pid
        self._ready = {}           # pid -> when it became ready
        self._planned = set()      # pids a reload restarts: their deaths are no failures
        self._serving_before = 0   # how many served when the reload began
        self._causes = {}
        self._buffer = b""
        self._poll.register(reports.read_fd, self._select.POLLIN)
        self._reports_poll = self._select.poll()    # the reports alone, for _worker_exited
        self._reports_poll.register(reports.read_fd, self._select.POLLIN)

    def start(self):
        native.module("threading").Thread(target=self.run, name="safe_launch-monitor",
                                          daemon=True).start()
        if self.start_timeout:
            native.module("threading").Thread(target=self._start_deadline, daemon=True,
                                              name="safe_launch-start-deadline").start()

    def _start_deadline(self):
        native.module("time").sleep(self.start_timeout)
        if self.outcome.ready_at is None and not self.outcome.stopping:
            self.outcome.start_timed_out = True
            self.on_start_timeout(self.waiting_for())

    def waiting_for(self):
        """What the starting workers last said they wait on (None: unknown)."""
        with self._lock:
            found = [self._waiting[pid] for pid in self._pidfds.values()
                     if pid in self._waiting and pid not in self._ready]
        return ", ".join(sorted(set(found))) or None

    def counts(self):
        """(workers serving, workers starting) now."""
        with self._lock:
            serving = len(self._ready)
            return serving, len(self._pidfds) - serving

    def stop_within(self, seconds, on_expired):
        """Stop bound: after ``seconds``, SIGKILL every worker, then ``on_expired()``.

        A native thread, so it fires whatever the backend's loop is blocked on
        (a paused broker, a hung database).
        """
        def expire():
            native.module("time").sleep(seconds)
            with self._lock:
                pids = set(self._pidfds.values())
            for pid in pids | set(children()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            on_expired()
        native.module("threading").Thread(target=expire, name="safe_launch-stop-bound",
                                          daemon=True).start()

    def restarting(self):
        """A reload was accepted: every worker alive now is restarted by the backend.

        Returns False when an earlier reload's workers are not all serving
        yet (the caller coalesces this one into a later reload).
        """
        with self._lock:
            if self.outcome.reloading:
                return False
            self._planned = set(self._pidfds.values())
            self._serving_before = len(self._ready)
            self.outcome.reloading = True
            self._reloads += 1
            reload = self._reloads
        if self.reload_timeout:
            native.module("threading").Thread(target=self._reload_deadline, args=(reload,),
                                              daemon=True,
                                              name="safe_launch-reload-deadline").start()
        return True

    def _reload_deadline(self, reload):
        """``reload_timeout`` after a reload began, if its workers do not all
        serve yet: it ends, ``on_reload_timeout(serving, expected, waiting_for)``.
        A native thread, like the start deadline: it fires whatever the
        backend's loop is blocked on."""
        native.module("time").sleep(self.reload_timeout)
        with self._lock:
            if reload != self._reloads or not self.outcome.reloading or self.outcome.stopping:
                return
            serving = len([p for p in self._ready if p not in self._planned])
            expected = max(self._serving_before, 1)
            self.outcome.reloading = False
            self._planned.clear()
            if not serving:
                self.outcome.reload_timed_out = True
        self.on_reload_timeout(serving, expected, self.waiting_for())

    def run(self):
        timeout = self.tick_interval * 1000 if self.tick_interval else None
        last_tick = self.clock()
        while True:
            ready = self._poll.poll(timeout)
            if timeout and self.clock() - last_tick >= self.tick_interval:
                last_tick = self.clock()
                if not self.outcome.stopping:
                    self.tick()
            for fd, _ in ready:
                if fd == self.reports.read_fd:
                    self._read_reports()
                else:
                    self._worker_exited(fd)

    def _read_reports(self):
        self._buffer += os.read(self.reports.read_fd, 65536)
        *lines, self._buffer = self._buffer.split(b"\n")
        gone = []
        for line in lines:
            kind, _, rest = line.decode("utf-8", "replace").partition(" ")
            pid, _, detail = rest.partition(" ")
            if pid.isdigit():
                self._handle(kind, int(pid), detail, gone)
        # A worker already reaped when its "starting" is read (it failed at
        # once, and the backend waited for it): its death comes after the
        # rest of what it said, its "failed <cause>" above all.
        for pid in gone:
            self._died(pid, None, None)

    def _handle(self, kind, pid, detail, gone):
        if kind == "starting":
            with self._lock:    # restarted in place (eventlet backend): a new start
                self._planned.discard(pid)
                self._ready.pop(pid, None)
            self._watch(pid, gone)
        elif kind == "ready":
            with self._lock:
                self._waiting.pop(pid, None)
                self._ready[pid] = self.clock()
                self.outcome.failures.clear()
                first = self.outcome.ready_at is None
                if first:
                    self.outcome.ready_at = self.clock()
                new = len([p for p in self._ready if p not in self._planned])
                reloaded = self.outcome.reloading and new >= max(self._serving_before, 1)
                if reloaded:
                    self.outcome.reloading = False
                    self._planned.clear()
            self.emitter.emit(events.WORKER_STARTED, worker_pid=pid)
            if first or reloaded:
                self.on_ready(pid, reloaded)
            self.on_change()
        elif kind == "failed":
            self._causes[pid] = detail
        elif kind == "waiting":
            with self._lock:
                self._waiting[pid] = detail
            self.on_change()

    def _watch(self, pid, gone):
        if pid in self._pidfds.values():
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:      # already gone: exited, once its reports are read
            gone.append(pid)
            return
        with self._lock:
            self._pidfds[fd] = pid
        self._poll.register(fd, self._select.POLLIN)
        self.on_change()

    def _worker_exited(self, fd):
        # A worker's last words ("failed <cause>") are in the pipe before its
        # pidfd is readable, but one poll() can return both, in either order:
        # read them first, or the cause would be lost ("exited with status
        # None") from the death record and the crash loop's message.
        for _ in range(64):         # bounded: 64 reads of 64 KiB
            if not self._reports_poll.poll(0):
                break
            self._read_reports()
        with self._lock:
            pid = self._pidfds.pop(fd)
        self._poll.unregister(fd)
        code = status = None
        try:
            info = os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOWAIT)
            if info:
                code, status = info.si_code, info.si_status
        except ChildProcessError:       # the backend reaped it first
            pass
        finally:
            os.close(fd)
        self._died(pid, code, status)

    def _died(self, pid, code, status):
        cause = self._causes.pop(pid, None)
        with self._lock:
            self._waiting.pop(pid, None)
            ready_at = self._ready.pop(pid, None)
            planned = pid in self._planned
            self._planned.discard(pid)
        if self.outcome.stopping:
            return
        self.on_change()
        if planned:
            self.emitter.emit(events.WORKER_RESTARTED,
                              summary="serve: worker %d restarted for the reload (status %s)"
                                      % (pid, status), worker_pid=pid, status=status)
            return
        if ready_at is not None:
            served = self.clock() - ready_at
            failed = crashloop.failed_after_ready(served, code, status, self.policy)
            self.emitter.emit(events.WORKER_DIED, outcome="failure",
                              summary="serve: worker %d died after serving %ds (status %s); "
                                      "the backend restarts it" % (pid, served, status),
                              worker_pid=pid, status=status, ready=True, served=round(served, 3))
            if not failed:
                if served >= self.policy.window:
                    self.outcome.quick_deaths.clear()
                return
            run = self.outcome.quick_deaths
            cause = cause or "exited with status %s %ds after it was ready" % (status, served)
        else:
            run = self.outcome.failures
            cause = cause or "exited with status %s before it was ready" % status
            self.emitter.emit(events.WORKER_DIED, outcome="failure",
                              summary="serve: worker %d failed to start: %s" % (pid, cause),
                              worker_pid=pid, status=status, ready=False, cause=cause,
                              consecutive_failures=len(run) + 1)
        run.append(self.clock())
        if self.outcome.crash_cause is None and crashloop.is_crash_loop(run, self.policy):
            self.outcome.crash_cause = cause
            self.on_crash_loop(cause)
