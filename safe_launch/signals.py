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

The console scripts call :func:`install_early` first thing in ``main()``,
before nova or oslo.config is imported, so a stop request is clean from the
moment the interpreter runs our code.  The residual window is the
interpreter's own start (site, the .pth files, the entry point's import of
``safe_launch``: 50-100 ms on a loaded 2-CPU machine, see
tests/functional/test_early_signals.py), where SIGTERM still has its
default action (exit 143, no line); no Python code can close it.  A stop
that arrives while a record is being written is delivered again once the
record is whole, so the audit chain never holds half a link.

A terminal's Ctrl-C reaches its foreground process group.  cotyledon's
ServiceManager calls ``os.setsid()``, which moves a launcher that is not a
group leader (started by a script) out of that group, so Ctrl-C would not
reach it: :func:`own_process_group` makes the launcher a group leader first
(setsid then fails harmlessly) and hands it the terminal's foreground, given
back when the launcher exits.  Its own group also keeps cotyledon's
``killpg(0, ...)`` (reload, fast exit) inside the service.
"""

import atexit
import contextlib
import os
import signal
import threading

# Modules that write a record: a stop that interrupts one of them would leave
# a half-written record (an audit chain link, a console line) behind it.
_RECORD_WRITERS = frozenset(("safe_launch.events", "safe_launch.audit", "safe_launch.journal"))
_REDELIVER_AFTER = 0.005        # seconds: a record is written in well under that
_started_in_background = False
_handover = None        # (launcher pid, tty descriptor, group to give the foreground back to)


class StopRequested(BaseException):
    """SIGTERM/SIGINT arrived before the service was served."""

    def __init__(self, signo):
        super().__init__(signal.Signals(signo).name)
        self.signo = signo


def _raise_stop(signo, frame):
    if _writing_a_record(frame):
        # Not now: ask again once the record is whole (the same signal, so
        # whoever owns it by then, this handler or the backend's, sees it).
        threading.Timer(_REDELIVER_AFTER, os.kill, (os.getpid(), signo)).start()
        return
    ignore_stop()       # one stop: a second one must not interrupt the clean exit
    raise StopRequested(signo)


def _writing_a_record(frame):
    while frame is not None:
        if frame.f_globals.get("__name__") in _RECORD_WRITERS:
            return True
        frame = frame.f_back
    return False


def install_early():
    """SIGTERM/SIGINT raise StopRequested, SIGHUP is ignored, until the service is served.

    Idempotent.  A SIGINT the process inherited as ignored means a shell
    started it as a background job: remembered, so the launcher never takes
    the terminal's foreground (see :func:`own_process_group`).
    """
    global _started_in_background
    if signal.getsignal(signal.SIGTERM) is not _raise_stop:
        _started_in_background = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def own_process_group():
    """Make the launcher a process-group leader; take the terminal's foreground if it had it.

    Call before the backend's manager is created (its setsid() then fails
    with EPERM, which cotyledon ignores).  A launcher that already leads its
    group (started directly by an interactive shell, systemd, or in a new
    session) is left as it is.  The foreground is given back at exit.
    """
    original = os.getpgrp()
    if original == os.getpid():
        return
    tty = None if _started_in_background else _terminal_in_foreground(original)
    try:
        os.setpgid(0, 0)
    except OSError:
        _close(tty)
        return
    if tty is None:
        return
    try:
        with _sigttou_ignored():
            os.tcsetpgrp(tty, os.getpid())
    except OSError:
        _close(tty)
        return
    global _handover
    _handover = (os.getpid(), tty, original)
    atexit.register(give_back_terminal)


def _terminal_in_foreground(pgid):
    """A descriptor of our controlling terminal if ``pgid`` is its foreground group."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:         # no controlling terminal
        return None
    try:
        if os.tcgetpgrp(tty) == pgid:
            return tty
    except OSError:
        pass
    _close(tty)
    return None


def give_back_terminal():
    """The group the launcher took the foreground from gets it back (at exit; idempotent)."""
    global _handover
    if _handover is None or _handover[0] != os.getpid():    # or a forked worker
        return
    _, tty, original = _handover
    _handover = None
    with contextlib.suppress(OSError):
        if os.tcgetpgrp(tty) == os.getpgrp():
            with _sigttou_ignored():
                os.tcsetpgrp(tty, original)
    _close(tty)


def ignore_stop():
    """The launch has ended and decided its exit status: a late stop must not change it."""
    # A Python no-op, not SIG_IGN: a signal already pending when the handler
    # changes would make Python raise "Signal 15 ignored due to race condition".
    signal.signal(signal.SIGTERM, _stopping_already)
    signal.signal(signal.SIGINT, _stopping_already)


def _stopping_already(signo, frame):
    pass


@contextlib.contextmanager
def _sigttou_ignored():
    # tcsetpgrp from a group that is not (or no longer) the foreground
    # would stop the process with SIGTTOU.
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _close(fd):
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


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
    ``on_reload()`` returns a false value to refuse the reload, else a
    context manager the backend's own reload runs in (the master re-reads
    the files inside it: from the bytes the check accepted).
    """
    manager = manager_of(launcher)
    if manager is None:
        # eventlet backend: its launcher owns the signals (and SIGHUP);
        # the launcher is only told that a stop began.
        from oslo_service import service
        handler = service.SignalHandler()
        if isinstance(launcher, service.ServiceLauncher):
            _serve_in_process(launcher, handler, on_stop)
        for name in ("SIGTERM", "SIGINT"):
            handler.add_handler(name, lambda signo, frame: on_stop(signo))
        _check_hup_first(handler, on_reload)
        return
    dispatch = manager._on_signal_received

    def on_signal(sig):
        if sig in (signal.SIGTERM, signal.SIGINT):
            on_stop(sig)
            return dispatch(signal.SIGTERM)
        if sig == signal.SIGHUP:
            accepted = on_reload()      # a context the backend's reload runs in
            if accepted:
                with accepted:
                    return dispatch(sig)
            return None
        return dispatch(sig)

    manager._on_signal_received = on_signal
    manager.register_hooks(on_new_worker=_ignore_sigint_in_worker)


def _serve_in_process(launcher, handler, on_stop):
    """eventlet backend, one process (a service without workers): its
    ServiceLauncher clears every signal handler when it starts waiting and
    takes SIGINT as ``os._exit(1)``.  Its handlers are set again with the
    launcher told first, and SIGINT a graceful stop like SIGTERM (exit 0);
    private in oslo.service 4.x, pinned."""

    def handle_signal():
        handler.clear()
        for name in ("SIGTERM", "SIGINT"):
            handler.add_handler(name, launcher._graceful_shutdown)
            handler.add_handler(name, lambda signo, frame: on_stop(signo))   # runs first
        handler.add_handler("SIGHUP", launcher._reload_service)
        handler.add_handler("SIGALRM", launcher._on_timeout_exit)
    launcher.handle_signal = handle_signal


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
