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


def monitor(max_failures=3, window=60, clock=time.monotonic, **deadlines):
    reports = supervise.WorkerReports()
    sink = Recorder()
    ready, loop = threading.Event(), threading.Event()
    seen = {}
    mon = supervise.Monitor(reports, CrashLoopPolicy(max_failures, window),
                            events.Emitter([sink]), clock=clock,
                            on_ready=lambda pid, reloaded: (seen.setdefault("ready", pid),
                                                            seen.setdefault("reloads", []).append(
                                                                reloaded), ready.set()),
                            on_crash_loop=lambda cause: (seen.setdefault("cause", cause),
                                                         loop.set()), **deadlines)
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


def test_a_worker_reaped_before_its_reports_are_read_keeps_its_cause():
    """It failed at once and the backend reaped it before the monitor read its
    "starting": the death is handled after its "failed" line, not before."""
    reports = supervise.WorkerReports()
    reap(worker(reports, ("starting", ""), ("failed", "DBConnectionError: refused")))
    sink, loop, seen = Recorder(), threading.Event(), {}
    mon = supervise.Monitor(reports, CrashLoopPolicy(1, 60), events.Emitter([sink]),
                            on_ready=lambda pid, reloaded: None,
                            on_crash_loop=lambda cause: (seen.setdefault("cause", cause),
                                                         loop.set()))
    mon.start()
    assert loop.wait(10)
    assert seen["cause"] == "DBConnectionError: refused"
    died = [e for e in sink.events if e.event == events.WORKER_DIED]
    assert [e.data["cause"] for e in died] == ["DBConnectionError: refused"]


def test_a_worker_killed_before_ready_counts_without_a_message():
    reports, mon, sink, ready, loop, seen = monitor(max_failures=1)
    pid = worker(reports, ("starting", ""), signo=signal.SIGKILL)
    assert loop.wait(10)
    reap(pid)
    assert "before it was ready" in seen["cause"]


class Clock:
    """A clock the test moves: failures hours apart, in no time."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_failed_starts_hours_apart_are_still_a_crash_loop():
    clock = Clock()
    reports, mon, sink, ready, loop, seen = monitor(window=1, clock=clock)
    for n in range(1, 4):       # each death seen before the clock moves on
        clock.now += 3600
        reap(worker(reports, ("starting", ""), ("failed", "DBConnectionError: timed out")))
        assert until(lambda: len([e for e in sink.events if e.event == events.WORKER_DIED]) >= n)
    assert loop.wait(10)
    assert seen["cause"] == "DBConnectionError: timed out"


def serving(reports):
    """A worker that becomes ready, then waits to be told how to end."""
    pid = os.fork()
    if pid == 0:
        reports.send("starting")
        reports.send("ready")
        signal.pause()
        os._exit(0)
    return pid


def died(sink, n):
    return until(lambda: len([e for e in sink.events if e.event in (
        events.WORKER_DIED, events.WORKER_RESTARTED)]) >= n)


def test_error_exits_soon_after_ready_are_a_crash_loop_but_kills_from_outside_are_not():
    reports, mon, sink, ready, loop, seen = monitor(max_failures=2)
    for n in range(1, 4):               # SIGKILLed after ready: an operator, the OOM killer
        pid = serving(reports)
        assert until(lambda: mon.counts()[0] == 1)
        os.kill(pid, signal.SIGKILL)
        reap(pid)
        assert died(sink, n)
    assert not loop.wait(1)
    for n in range(4, 6):               # ends by itself with an error right after ready
        pid = worker(reports, ("starting", ""), ("ready", ""))
        assert died(sink, n)            # seen (through its pidfd) before it is reaped
        reap(pid)
    assert loop.wait(10)
    assert "after it was ready" in seen["cause"]


def test_workers_a_reload_restarts_are_no_failures_and_ready_comes_again():
    reports, mon, sink, ready, loop, seen = monitor(max_failures=1)
    first = serving(reports)
    assert ready.wait(10)
    assert mon.restarting()
    assert not mon.restarting()         # a second reload now is coalesced
    os.kill(first, signal.SIGTERM)
    reap(first)
    assert died(sink, 1)
    assert [e.event for e in sink.events if e.event.startswith("worker.")][-1] == \
        events.WORKER_RESTARTED
    assert not loop.wait(0.5)
    second = serving(reports)
    try:
        assert until(lambda: seen["reloads"] == [False, True])
        assert mon.restarting()         # the reload is over: the next one goes through
    finally:
        os.kill(second, signal.SIGKILL)
        reap(second)


def test_a_reload_whose_workers_do_not_all_serve_again_ends_at_its_deadline():
    timed_out = []
    reports, mon, sink, ready, loop, seen = monitor(
        reload_timeout=0.5, on_reload_timeout=lambda *args: timed_out.append(args))
    old = [serving(reports), serving(reports)]
    try:
        assert until(lambda: mon.counts() == (2, 0))
        assert mon.restarting()
        for pid in old:
            os.kill(pid, signal.SIGTERM)
        reap(*old)
        new = serving(reports)          # one of the two serves again, the other never
        assert until(lambda: timed_out)
        assert timed_out == [(1, 2, None)]
        assert not mon.outcome.reloading and not mon.outcome.reload_timed_out
        assert seen["reloads"] == [False]   # no READY from the monitor itself: the callback's
        assert mon.restarting()             # the next reload is not coalesced forever
        os.kill(new, signal.SIGTERM)
        reap(new)
        assert until(lambda: len(timed_out) == 2)
        assert timed_out[1][0] == 0 and mon.outcome.reload_timed_out
    finally:
        for pid in old:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_reload_over_in_time_has_no_deadline_left_behind():
    timed_out = []
    reports, mon, sink, ready, loop, seen = monitor(
        reload_timeout=0.5, on_reload_timeout=lambda *args: timed_out.append(args))
    first = serving(reports)
    assert ready.wait(10) and mon.restarting()
    os.kill(first, signal.SIGTERM)
    reap(first)
    second = serving(reports)
    try:
        assert until(lambda: seen["reloads"] == [False, True])
        time.sleep(1)
        assert not timed_out
    finally:
        os.kill(second, signal.SIGKILL)
        reap(second)
