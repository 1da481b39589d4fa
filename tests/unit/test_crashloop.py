from hypothesis import given, strategies as st

from safe_launch.crashloop import CrashLoopPolicy, is_crash_loop

POLICY = CrashLoopPolicy(max_failures=3, window=60)


def test_fewer_failures_than_the_threshold_is_not_a_loop():
    assert not is_crash_loop([0.0, 1.0], POLICY)


def test_threshold_reached_within_the_window_is_a_loop():
    assert is_crash_loop([0.0, 5.0, 10.0], POLICY)


def test_failures_spread_wider_than_the_window_are_not_a_loop():
    assert not is_crash_loop([0.0, 50.0, 100.0], POLICY)


def test_only_the_latest_failures_count():
    assert is_crash_loop([0.0, 500.0, 510.0, 520.0], POLICY)


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=20),
       st.integers(min_value=1, max_value=10), st.floats(min_value=0, max_value=1e5))
def test_a_loop_always_has_enough_failures_inside_the_window(times, n, window):
    times = sorted(times)
    policy = CrashLoopPolicy(n, window)
    if is_crash_loop(times, policy):
        assert len(times) >= n and times[-1] - times[-n] <= window
