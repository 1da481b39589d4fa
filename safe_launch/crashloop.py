"""Crash-loop policy: when do workers that never became ready mean "stop"?"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class CrashLoopPolicy:
    max_failures: int     # consecutive deaths before ready ...
    window: float         # ... within this many seconds


def is_crash_loop(failures, policy):
    """Pure: ``failures`` are the times of consecutive deaths-before-ready
    since the last worker became ready (oldest first)."""
    if len(failures) < policy.max_failures:
        return False
    recent = failures[-policy.max_failures:]
    return recent[-1] - recent[0] <= policy.window
