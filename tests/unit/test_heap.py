"""The master's collector: off until the fork, one collection off the main thread."""

import gc
import threading

import pytest

from safe_launch import heap


@pytest.fixture(autouse=True)
def collector_as_it_was():
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_off_until_the_fork_then_frozen_and_back_on():
    gc.enable()
    paused = heap.Paused()
    assert not gc.isenabled()
    threads = []
    real = gc.collect

    def collect(*args):
        threads.append(threading.current_thread())
        return real(*args)
    gc.collect = collect
    try:
        paused.collect_meanwhile("threading")
        paused.before_fork()
    finally:
        gc.collect = real
    assert threads and threads[0] is not threading.main_thread()
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_no_collection_off_the_main_thread_under_eventlet():
    paused = heap.Paused()
    real, calls = gc.collect, []
    gc.collect = lambda *args: calls.append(args)
    try:
        paused.collect_meanwhile("eventlet")
        paused.before_fork()
    finally:
        gc.collect = real
    assert calls == [] and gc.isenabled()


def test_a_launch_that_ends_early_leaves_the_collector_as_it_found_it():
    gc.disable()
    heap.Paused().restore()
    assert not gc.isenabled()
    gc.enable()
    heap.Paused().restore()
    assert gc.isenabled()


def test_work_meant_for_a_thread_runs_inline_when_the_os_refuses_one(monkeypatch):
    """pids.max reached: the launcher's helper work must not be what fails the launch."""
    import _thread
    from safe_launch import native

    def refuse(*args):
        raise RuntimeError("can't start new thread")
    fake = type("FakeThread", (), {"allocate_lock": staticmethod(_thread.allocate_lock),
                                   "start_new_thread": staticmethod(refuse)})
    monkeypatch.setattr(native, "module", lambda name: fake)
    assert native.background(lambda: 42)() == 42
    broken = native.background(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        broken()
