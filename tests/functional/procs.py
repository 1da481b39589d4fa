"""Process facts the functional tests and the benchmarks read from /proc."""

from safe_launch import supervise


def child_pids(pid):
    """Child pids of every thread of ``pid``, sorted (cotyledon forks from a thread)."""
    return supervise.children(pid)
