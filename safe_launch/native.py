"""The unpatched standard library, for what must really block, or really not.

In eventlet mode the backend monkey-patches ``select``, ``socket``,
``threading``, ``time`` and ``os``: a "blocking" call then yields to the hub
and a "non-blocking" one waits in it.  The launcher's own threads (the
monitor, the deadlines) and its outputs (the console's bounded write, the
sd_notify datagram) use the original modules, whatever was patched.
"""

import importlib
import sys


def module(name):
    """The unpatched stdlib module ``name`` (eventlet's original once eventlet
    is loaded; the module itself before that)."""
    patcher = sys.modules.get("eventlet.patcher")
    return patcher.original(name) if patcher else importlib.import_module(name)


def background(fn):
    """``fn()`` started in a real thread (eventlet's or not); returns the call that
    waits for it and returns what it returned, or raises what it raised.  Run here,
    at once, when the OS refuses another thread.

    ``_thread``, not ``threading``: ``Thread.start()`` waits until the new thread
    runs, which then keeps the GIL for a whole switch interval (5 ms) before the
    caller gets it back; this caller goes on at once.
    """
    thread = module("_thread")
    done = thread.allocate_lock()
    done.acquire()
    outcome = {}

    def run():
        try:
            outcome["result"] = fn()
        except BaseException as exc:        # for the waiter to raise
            outcome["error"] = exc
        finally:
            done.release()
    try:
        thread.start_new_thread(run, ())
    except RuntimeError:        # the OS refuses a thread (pids.max): the same work, inline
        run()

    def wait():
        with done:
            if "error" in outcome:
                raise outcome["error"]
            return outcome["result"]
    return wait
