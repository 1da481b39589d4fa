"""Process facts the functional tests and the benchmarks read from /proc."""

import os

from safe_launch import supervise


def pids_with(name, needle):
    """Pids of live processes whose ``/proc/<pid>/<name>`` (``environ``,
    ``cmdline``) contains the bytes ``needle``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/%s" % (entry, name), "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def child_pids(pid):
    """Child pids of every thread of ``pid``, sorted (cotyledon forks from a thread)."""
    return supervise.children(pid)
