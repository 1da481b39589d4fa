import os
import signal

from hypothesis import given, strategies as st

from safe_launch.crashloop import (CrashLoopPolicy, ended_by_itself, failed_after_ready,
                                   is_crash_loop)

POLICY = CrashLoopPolicy(max_failures=3, window=60)


def test_fewer_failures_than_the_threshold_is_not_a_loop():
    assert not is_crash_loop([0.0, 1.0], POLICY)


def test_threshold_reached_is_a_loop():
    assert is_crash_loop([0.0, 5.0, 10.0], POLICY)


def test_failures_at_any_pace_are_a_loop():
    """A worker retrying its database for 100 s per start loops as surely as a fast one."""
    assert is_crash_loop([0.0, 100.0, 200.0], POLICY)
    assert is_crash_loop([0.0, 1e5, 2e5], CrashLoopPolicy(3, 1))


def test_an_error_exit_soon_after_ready_is_a_failure():
    assert failed_after_ready(5.0, os.CLD_EXITED, 1, POLICY)
    assert failed_after_ready(5.0, os.CLD_DUMPED, signal.SIGSEGV, POLICY)
    assert failed_after_ready(5.0, os.CLD_KILLED, signal.SIGABRT, POLICY)


def test_a_death_after_serving_longer_than_the_window_is_not():
    assert not failed_after_ready(61.0, os.CLD_EXITED, 1, POLICY)


def test_kills_from_outside_and_clean_exits_are_never_failures():
    """SIGKILL (an operator, the OOM killer), SIGTERM and exit 0 (a reload restart)."""
    for code, status in ((os.CLD_KILLED, signal.SIGKILL), (os.CLD_KILLED, signal.SIGTERM),
                         (os.CLD_KILLED, signal.SIGHUP), (os.CLD_EXITED, 0)):
        assert not ended_by_itself(code, status)
        assert not failed_after_ready(0.1, code, status, POLICY)


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=20),
       st.integers(min_value=1, max_value=10), st.floats(min_value=0, max_value=1e5))
def test_a_loop_is_exactly_enough_failures(times, n, window):
    assert is_crash_loop(sorted(times), CrashLoopPolicy(n, window)) == (len(times) >= n)
