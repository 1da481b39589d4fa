"""The master's garbage collector across the launch: Python's pre-fork pattern.

The Python documentation's advice for a process that forks workers without
exec (``gc.freeze``): disable the collector early in the parent, freeze
right before the fork, collect normally afterwards.  Measured on this
project's 2-CPU VM, the collector took 200-300 ms of the scheduler master's
1.3-1.8 s start (about 450 young and 3 full collections of nova's 230,000
objects, each full one 140-220 ms), and the workers' first collections
touch every inherited object's header, so pages shared after the fork get
copied.  The garbage this leaves is small (about 3,000 objects at nova's
pre-serve step): it is collected once, in a thread of its own, while the
pre-serve step waits on nova's thread pools (the main thread idle), under
the threading backend only: under eventlet, finalizers must not run in a
thread the hub does not know.
"""

import gc

from safe_launch import native


class Paused:
    """The collector off from now until :meth:`before_fork` (or :meth:`restore`)."""

    def __init__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()
        self.collected = lambda: None

    def collect_meanwhile(self, backend):
        """Start the one collection, off the main thread (threading backend only)."""
        if backend == "threading":
            self.collected = native.background(gc.collect)

    def before_fork(self):
        """Right before the first fork: the collection done, everything alive frozen
        (never scanned again, in the master or a worker), the collector back on."""
        self.collected()
        gc.freeze()
        self.restore()

    def restore(self):
        """The collector as it was (a launch that ends before it serves)."""
        if self.was_enabled:
            gc.enable()
