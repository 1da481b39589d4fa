"""Crash-loop policy: when do dying workers mean "stop"?

Two runs of failures, each ``max_failures`` long, end the launch:

* workers that die before they ever became ready, in a row, at any pace
  (a database retried for 100 s per start is as much a loop as an empty
  one failing in 1 s); a worker becoming ready ends the run;
* workers that became ready and then ended by themselves (an error exit
  or a core-dumping signal) within ``window`` seconds of becoming ready, in
  a row; a worker that served longer than ``window`` ends the run.

Deaths the launcher planned (workers restarted for a reload) and kills from
outside (SIGKILL by an operator or the OOM killer, SIGTERM) are never
failures: the backend restarts those workers.
"""

import os
import signal

from safe_launch import recordtype

# Signals a process dies of by its own fault (they dump core by default).
_OWN_FAULT = frozenset((signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL,
                        signal.SIGFPE, signal.SIGSYS, signal.SIGTRAP, signal.SIGQUIT))


class CrashLoopPolicy(recordtype.Frozen):
    max_failures: int     # failures in a row that make a loop
    window: float         # a death this soon after becoming ready is a failure too


def ended_by_itself(code, status):
    """Whether a worker that died (``waitid``'s si_code and si_status) ended by its own fault."""
    if code == os.CLD_EXITED:
        return status != 0
    return code == os.CLD_DUMPED or (code == os.CLD_KILLED and status in _OWN_FAULT)


def failed_after_ready(served, code, status, policy):
    """Whether a worker that served ``served`` seconds and then died counts as a failure."""
    return served < policy.window and ended_by_itself(code, status)


def is_crash_loop(failures, policy):
    """Pure: ``failures`` is one run of failures in a row (see the module's rule)."""
    return len(failures) >= policy.max_failures
