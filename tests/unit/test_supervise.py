"""The master's view of real forked workers: readiness, deaths, crash loops."""

import os
import signal
import threading
import time

from safe_launch.crashloop import CrashLoopPolicy
from safe_launch import events
from safe_launch import supervise


class Recorder:
    def __init__(self):
        self.events = []

    def handle(self, event):
        self.events.append(event)


def monitor(max_failures=3):
    reports = supervise.WorkerReports()
    sink = Recorder()
    ready, loop = threading.Event(), threading.Event()
    seen = {}
    mon = supervise.Monitor(reports, CrashLoopPolicy(max_failures, 60),
                            events.Emitter([sink]),
                            on_ready=lambda pid: (seen.setdefault("ready", pid), ready.set()),
                            on_crash_loop=lambda cause: (seen.setdefault("cause", cause),
                                                         loop.set()))
    mon.start()
    return reports, mon, sink, ready, loop, seen


def worker(reports, *steps, signo=None):
    """Fork a worker that sends ``steps`` then exits 1 (or kills itself)."""
    pid = os.fork()
    if pid == 0:
        for kind, detail in steps:
            reports.send(kind, detail)
        if signo:
            os.kill(os.getpid(), signo)
        os._exit(1)
    return pid


def reap(*pids):
    for pid in pids:
        os.waitpid(pid, 0)


def test_failed_starts_in_a_row_are_a_crash_loop_with_the_workers_cause():
    reports, mon, sink, ready, loop, seen = monitor()
    pids = [worker(reports, ("starting", ""), ("failed", "DBError: no such table"))
            for _ in range(3)]
    assert loop.wait(10)
    reap(*pids)
    assert seen["cause"] == "DBError: no such table" and "ready" not in seen
    died = [e for e in sink.events if e.event == events.WORKER_DIED]
    assert len(died) == 3 and all(e.data["ready"] is False for e in died)


def test_a_ready_worker_resets_the_count():
    reports, mon, sink, ready, loop, seen = monitor(max_failures=2)
    first = worker(reports, ("starting", ""), ("failed", "boom"))
    reap(first)
    assert until(lambda: any(e.event == events.WORKER_DIED for e in sink.events))
    good = os.fork()
    if good == 0:
        reports.send("starting")
        reports.send("ready")
        signal.pause()
    try:
        assert ready.wait(10) and seen["ready"] == good
        reap(worker(reports, ("starting", ""), ("failed", "boom")))
        assert not loop.wait(2)
    finally:
        os.kill(good, signal.SIGKILL)
        reap(good)


def until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_worker_killed_before_ready_counts_without_a_message():
    reports, mon, sink, ready, loop, seen = monitor(max_failures=1)
    pid = worker(reports, ("starting", ""), signo=signal.SIGKILL)
    assert loop.wait(10)
    reap(pid)
    assert "before it was ready" in seen["cause"]
