"""Process facts the functional tests and the benchmarks read from /proc."""

import glob


def child_pids(pid):
    """Child pids of every thread of ``pid``, sorted (cotyledon forks from a thread)."""
    pids = []
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            continue
    return sorted(pids)
