"""Wait phase: watch forked workers, report readiness, detect crash loops.

Workers report over a pipe (``starting``/``ready``/``failed`` lines, written
by :class:`safe_launch.service.ReportingService`); the master watches each
reported pid through a pidfd, so a worker that dies before it is ready is
seen whatever killed it, without reaping it behind the backend's back.
"""

import dataclasses
import importlib
import os
import sys
import time

from safe_launch import crashloop
from safe_launch import events

PIPE_BUF = 4096


def native(name):
    """The unpatched stdlib module: the monitor must be a real OS thread
    blocking in a real poll(), also in eventlet mode."""
    patcher = sys.modules.get("eventlet.patcher")
    return patcher.original(name) if patcher else importlib.import_module(name)


class WorkerReports:
    """The pipe from workers (writers, after fork) to the master (reader)."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()

    def send(self, kind, detail=""):
        """Worker side: one atomic line (shorter than PIPE_BUF)."""
        line = "%s %d %s" % (kind, os.getpid(), " ".join(detail.split()))
        os.write(self.write_fd, line.encode("utf-8", "replace")[:PIPE_BUF - 1] + b"\n")


@dataclasses.dataclass
class ServeOutcome:
    """What the wait phase observed (filled in by the monitor thread)."""

    ready_at: float = None        # when the first worker became ready
    failures: list = dataclasses.field(default_factory=list)
    crash_cause: str = None
    stopping: bool = False


class Monitor:
    """Master side: reads worker reports and watches their pids."""

    def __init__(self, reports, policy, emitter, on_ready, on_crash_loop, clock=time.monotonic,
                 tick=None, tick_interval=None):
        self.tick = tick                   # called every tick_interval s (watchdog)
        self.tick_interval = tick_interval
        self.reports = reports
        self.policy = policy
        self.emitter = emitter
        self.on_ready = on_ready
        self.on_crash_loop = on_crash_loop
        self.clock = clock
        self.outcome = ServeOutcome()
        self._select = native("select")
        self._poll = self._select.poll()
        self._pidfds = {}          # pidfd -> pid
        self._ready = set()
        self._causes = {}
        self._buffer = b""
        self._poll.register(reports.read_fd, self._select.POLLIN)

    def start(self):
        native("threading").Thread(target=self.run, name="safe_launch-monitor",
                                   daemon=True).start()

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
        for line in lines:
            kind, _, rest = line.decode("utf-8", "replace").partition(" ")
            pid, _, detail = rest.partition(" ")
            if pid.isdigit():
                self._handle(kind, int(pid), detail)

    def _handle(self, kind, pid, detail):
        if kind == "starting":
            self._watch(pid)
        elif kind == "ready":
            self._ready.add(pid)
            self.outcome.failures.clear()
            self.emitter.emit(events.WORKER_STARTED, worker_pid=pid)
            if self.outcome.ready_at is None:
                self.outcome.ready_at = self.clock()
                self.on_ready(pid)
        elif kind == "failed":
            self._causes[pid] = detail

    def _watch(self, pid):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:      # already gone: treat as exited now
            self._died(pid, None)
            return
        self._pidfds[fd] = pid
        self._poll.register(fd, self._select.POLLIN)

    def _worker_exited(self, fd):
        pid = self._pidfds.pop(fd)
        self._poll.unregister(fd)
        status = None
        try:
            info = os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOWAIT)
            status = info.si_status if info else None
        except ChildProcessError:       # the backend reaped it first
            pass
        finally:
            os.close(fd)
        self._died(pid, status)

    def _died(self, pid, status):
        cause = self._causes.pop(pid, None)
        if self.outcome.stopping:
            return
        if pid in self._ready:
            self._ready.discard(pid)
            self.emitter.emit(events.WORKER_DIED, outcome="failure",
                              summary="serve: worker %d died after it was ready (status %s); "
                                      "the backend restarts it" % (pid, status),
                              worker_pid=pid, status=status, ready=True)
            return
        cause = cause or "exited with status %s before it was ready" % status
        self.outcome.failures.append(self.clock())
        self.emitter.emit(events.WORKER_DIED, outcome="failure",
                          summary="serve: worker %d failed to start: %s" % (pid, cause),
                          worker_pid=pid, status=status, ready=False, cause=cause,
                          consecutive_failures=len(self.outcome.failures))
        if (self.outcome.crash_cause is None
                and crashloop.is_crash_loop(self.outcome.failures, self.policy)):
            self.outcome.crash_cause = cause
            self.on_crash_loop(cause)
