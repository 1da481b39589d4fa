"""Crash loops at any pace, and reloads that never count as failures (issue 19).

The real nova 34 scheduler: a worker that cannot start is caught however
slowly it fails; the workers a reload restarts are recorded as restarts;
a burst of SIGHUPs coalesces and leaves the service serving.
"""

import os
import signal
import time

import pytest

from tests.functional.conftest import bin_path, raw_tracebacks, until
from tests.functional import rabbit as rabbitmq
from tests.functional.test_scheduler import Pinger

PREFIX = "nova-scheduler-safe:"


def test_a_crash_loop_slower_than_the_window_still_ends_in_75(make_env, launch):
    """One worker, failing every few seconds, with a window of 1 s: the old
    windowed rule never fired and the master re-forked forever, like stock."""
    env = make_env(workers=1, extra="\n[safe_launch]\ncrash_loop_window = 1\n")
    env.break_cell_db()
    safe = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert safe.wait(90) == 75, safe.output()[-3000:]
    failed = [x for x in safe.lines(PREFIX + " serve: worker") if "failed to start" in x]
    assert len(failed) == 3, safe.lines(PREFIX)
    assert any("crash loop: 3 workers in a row failed to start" in x and
               "no such table: services" in x for x in safe.lines(PREFIX)), safe.lines(PREFIX)
    assert not raw_tracebacks(safe.output())


def workers_serving(proc, count):
    return len(proc.children()) == count


def reloads_settled(proc):
    """Every accepted reload has its "ready again", and none is pending: no
    SIGHUP was coalesced after the last accepted one (it would start one more)."""
    reloading = pending = False
    for line in proc.lines(PREFIX):
        if " reload: configuration checked" in line:
            reloading, pending = True, False
        elif "one more reload follows" in line:
            pending = True
        elif "ready again after the reload" in line:
            reloading = False
    return not reloading and not pending


def test_bursts_of_reloads_leave_the_service_serving_every_time(make_env, launch, rabbit):
    """50 SIGHUPs in about a second, 10 times (issue 19): restarted workers are
    restarts, never crash-loop failures; after every burst the service has its
    worker count and answers RPC; SIGTERM then exits 0.  (Before, 1 try in 2
    stopped with 75 and no workers.)"""
    env = make_env(workers=2, transport_url=rabbit.url,
                   extra="\n[safe_launch]\ncrash_loop_max_failures = 2\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: proc.lines(PREFIX + " ready:"), 60), proc.output()[-3000:]
    pinger = Pinger(rabbit.url)
    try:
        for burst in range(10):
            checked = len(proc.lines(PREFIX + " reload: configuration checked"))
            for _ in range(50):
                proc.signal(signal.SIGHUP)
                time.sleep(0.02)
            assert until(lambda: len(proc.lines(PREFIX + " reload: configuration checked")) >
                         checked and reloads_settled(proc), 90), (burst, proc.lines(PREFIX))
            assert proc.proc.poll() is None, (burst, proc.lines(PREFIX))
            assert until(lambda: workers_serving(proc, 2), 30), (burst, proc.children())
            assert pinger.ping() == "pong", (burst, proc.lines(PREFIX))
    finally:
        pinger.close()
    lines = proc.lines(PREFIX)
    assert not [x for x in lines if "failed to start" in x or "crash loop" in x], lines
    # each burst coalesced: far fewer reloads than the 500 SIGHUPs
    assert 10 <= len(proc.lines(PREFIX + " reload: configuration checked")) <= 40, lines
    assert any("restarted for the reload" in x for x in lines), lines
    assert any("one more reload follows" in x for x in lines), lines
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.lines(PREFIX)


def gone(pids):
    return all(not os.path.exists("/proc/%d" % pid) or
               open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z" for pid in pids)


def test_no_worker_outlives_a_killed_master(make_env, launch):
    env = make_env(workers=2)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: proc.lines(PREFIX + " ready:"), 60), proc.output()[-3000:]
    assert until(lambda: len(proc.children()) == 2, 30)
    workers = proc.children()
    os.kill(proc.pid, signal.SIGKILL)
    assert until(lambda: gone(workers), 5), workers


@pytest.fixture
def own_rabbit(tmp_path):
    """A private RabbitMQ of this test's own, to pause."""
    (tmp_path / "rabbit").mkdir()
    server = rabbitmq.Rabbit(str(tmp_path / "rabbit"), name="safelaunch-paused").start()
    yield server
    os.killpg(server.proc.pid, signal.SIGCONT)
    server.stop()


def test_sigterm_with_a_paused_broker_ends_everything_within_stop_timeout(make_env, launch,
                                                                          own_rabbit):
    """oslo.service waits up to graceful_shutdown_timeout (60 s) and more here."""
    env = make_env(workers=2, transport_url=own_rabbit.url,
                   extra="\n[safe_launch]\nstop_timeout = 5\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: proc.lines(PREFIX + " ready:"), 60), proc.output()[-3000:]
    assert until(lambda: len(proc.children()) == 2, 30)
    workers = proc.children()
    os.killpg(own_rabbit.proc.pid, signal.SIGSTOP)
    start = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert time.monotonic() - start < 5 + 3
    assert until(lambda: gone(workers), 2), workers
    assert env.dir and any("stop" in x for x in proc.lines(PREFIX))


def test_a_broker_down_at_start_ends_in_75_at_the_start_deadline(make_env, launch):
    """Stock waits forever, sending no READY and saying nothing."""
    url = "rabbit://guest:guest@127.0.0.1:%d/" % rabbitmq.free_port()
    env = make_env(workers=1, transport_url=url,
                   extra="\n[safe_launch]\nstart_timeout = 12\nstop_timeout = 5\n")
    start = time.monotonic()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert proc.wait(40) == 75, proc.lines(PREFIX)
    assert 12 <= time.monotonic() - start < 12 + 15 + 5     # + the launch before serving
    lines = proc.lines(PREFIX)
    assert any("no worker became ready within 12s" in x and "the message bus" in x
               for x in lines), lines
    assert not proc.lines(PREFIX + " ready:")
    assert not raw_tracebacks(proc.output())
    assert until(lambda: not proc.children(), 5)


def test_a_reload_whose_workers_never_serve_ends_in_75_at_the_reload_deadline(
        make_env, launch, own_rabbit):
    """The broker paused during a reload: the restarted workers never serve
    again.  Without a deadline the launcher stayed in RELOADING=1 forever,
    coalescing every later SIGHUP."""
    env = make_env(workers=1, transport_url=own_rabbit.url,
                   extra="\n[safe_launch]\nreload_timeout = 8\nstop_timeout = 5\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: proc.lines(PREFIX + " ready:"), 60), proc.output()[-3000:]
    workers = proc.children()
    os.killpg(own_rabbit.proc.pid, signal.SIGSTOP)
    start = time.monotonic()
    proc.signal(signal.SIGHUP)
    assert proc.wait(8 + 5 + 20) == 75, proc.lines(PREFIX)
    assert 8 <= time.monotonic() - start
    lines = proc.lines(PREFIX)
    assert any("0 of 1 workers serve again after 8s ([safe_launch] reload_timeout)" in x
               for x in lines), lines
    assert any("no worker served again within 8s of a reload" in x for x in lines), lines
    assert not raw_tracebacks(proc.output())
    assert until(lambda: gone(workers + proc.children()), 5)
