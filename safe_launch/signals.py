"""Every signal the launcher handles, in one place.

Before the service is served, SIGTERM and SIGINT raise :class:`StopRequested`
(a clean stop, exit 0) and SIGHUP is ignored: there is nothing to reload yet.
Once the backend's master loop owns the process (cotyledon's ServiceManager
in the threading backend), :func:`adopt` routes its signal dispatch through
the launcher: SIGINT becomes the graceful SIGTERM path (cotyledon would
``os._exit(1)``), and SIGHUP goes through the launcher's reload check first.
In the eventlet backend its launchers keep their own handlers; SIGHUP still
reaches them only after the check (in the master: workers reload when the
master tells them).
"""

import os
import signal


class StopRequested(BaseException):
    """SIGTERM/SIGINT arrived before the service was served."""

    def __init__(self, signo):
        super().__init__(signal.Signals(signo).name)
        self.signo = signo


def _raise_stop(signo, frame):
    raise StopRequested(signo)


def install_early():
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _ignore_sigint_in_worker(service_id, worker_id, service):
    # A terminal's Ctrl-C reaches the whole process group; the master stops
    # the workers gracefully, so they must not die on SIGINT first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def manager_of(launcher):
    """cotyledon's ServiceManager behind an oslo.service threading launcher.

    Private attribute of oslo.service 4.x (pinned in constraints.txt); None
    for the eventlet backend, whose launchers handle signals themselves.
    The functional tests prove both paths against the pinned versions.
    """
    return getattr(launcher, "_manager", None)


def adopt(launcher, on_stop, on_reload):
    """Route the backend master's signals through the launcher.

    ``on_stop(signo)`` is told before the graceful shutdown starts;
    ``on_reload()`` returns True when the reload may go ahead.
    """
    manager = manager_of(launcher)
    if manager is None:
        # eventlet backend: its launcher owns the signals (and SIGHUP);
        # the launcher is only told that a stop began.
        from oslo_service import service
        handler = service.SignalHandler()
        for name in ("SIGTERM", "SIGINT"):
            handler.add_handler(name, lambda signo, frame: on_stop(signo))
        _check_hup_first(handler, on_reload)
        return False
    dispatch = manager._on_signal_received

    def on_signal(sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            on_stop(sig)
            return dispatch(signal.SIGTERM)
        if sig == signal.SIGHUP:
            if on_reload():
                return dispatch(sig)
            return None
        return dispatch(sig)

    manager._on_signal_received = on_signal
    manager.register_hooks(on_new_worker=_ignore_sigint_in_worker)
    return True


def _check_hup_first(handler, on_reload):
    """eventlet backend: the master's SIGHUP reaches its launcher only if accepted.

    oslo.service's SignalHandler (a singleton, inherited by the workers)
    runs every callback from ``_handle_signal_cb`` in a green thread, outside
    the raw signal handler; private in oslo.service 4.x, pinned.
    """
    master, dispatch = os.getpid(), handler._handle_signal_cb

    def handle(signo, frame):
        if signo == signal.SIGHUP and os.getpid() == master and not on_reload():
            return
        dispatch(signo, frame)

    handler._handle_signal_cb = handle
