"""Round 4 faults, unit level: a worker the OS refuses to fork."""

import errno
import resource

import pytest

from safe_launch import supervise


class Manager:
    def __init__(self, exc):
        self.exc = exc
        self.calls = 0

    def _start_worker(self, service_id, worker_id):
        self.calls += 1
        if self.exc is not None:
            raise self.exc
        return "forked"


@pytest.mark.parametrize("code", [errno.EMFILE, errno.EAGAIN, errno.ENOMEM])
def test_an_os_error_forking_a_worker_is_reported_not_raised_into_the_backend(code):
    manager = Manager(OSError(code, "refused"))
    refused = []
    assert supervise.guard_forks(manager, refused.append)
    assert manager._start_worker(1, 0) is None      # the supervisor thread lives on
    assert manager.calls == 1 and [e.errno for e in refused] == [code]


def test_a_worker_forked_is_passed_through():
    manager = Manager(None)
    refused = []
    supervise.guard_forks(manager, refused.append)
    assert manager._start_worker(1, 0) == "forked" and refused == []


def test_other_errors_are_not_taken_for_a_refused_fork():
    manager = Manager(ValueError("bug"))
    supervise.guard_forks(manager, lambda exc: None)
    with pytest.raises(ValueError):
        manager._start_worker(1, 0)


def test_a_backend_without_the_manager_is_left_alone():
    """(The private _start_worker itself is pinned in test_internals.)"""
    assert not supervise.guard_forks(None, lambda exc: None)


def limits(which):
    return {resource.RLIMIT_NOFILE: (16, 16), resource.RLIMIT_NPROC: (40, 40)}[which]


def test_the_reason_names_the_limit_that_refused():
    emfile = supervise.fork_refused_reason(OSError(errno.EMFILE, "Too many open files"),
                                           getrlimit=limits)
    assert emfile == "OSError: [Errno 24] Too many open files (RLIMIT_NOFILE 16)"
    eagain = supervise.fork_refused_reason(
        BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"), getrlimit=limits)
    assert eagain.endswith("(RLIMIT_NPROC 40, or the cgroup's pids.max)"), eagain
    enomem = supervise.fork_refused_reason(OSError(errno.ENOMEM, "Cannot allocate memory"),
                                           getrlimit=limits)
    assert enomem == "OSError: [Errno 12] Cannot allocate memory"


REPORTING = r'''
import sys
from safe_launch import service


class Reports:
    def __init__(self):
        self.sent = []

    def send(self, kind, detail=""):
        self.sent.append((kind, detail))

    def die_with_master(self):
        raise RuntimeError("can't start new thread")


class Inner:
    def start(self):
        raise AssertionError("never reached")


reports = Reports()
try:
    service.ReportingService(Inner(), reports).start()
except SystemExit as exc:
    print(exc.code, reports.sent)
'''


def test_a_worker_that_cannot_start_its_helper_threads_reports_it():
    """The master watches a worker from its "starting" on: a failure in the
    worker's own setup (no thread under pids.max) must come after it, as one
    "failed" line, never a raw traceback from a worker the master never saw.
    (In a child interpreter: safe_launch.service loads oslo.service's backend.)"""
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", REPORTING], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == (
        "1 [('starting', ''), ('failed', \"RuntimeError: can't start new thread\")]"), \
        result.stdout + result.stderr[-2000:]
