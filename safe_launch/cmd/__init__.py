"""Console entry points: each ``main()`` ends through :func:`finish`."""

import os
import sys


def finish(code, teardown=True):
    """End the process with exit status ``code``; never an interactive prompt.

    Under PYTHONINSPECT (or ``python -i``) the interpreter turns a SystemExit
    into a traceback and an interactive prompt instead of exiting, so a
    usage error would hang a script on its stdin.  Then, and when
    ``teardown`` is false, the terminal is given back, logging and the
    standard streams are flushed (a console that cannot be written is
    ignored: it fails open) and the process ends with ``os._exit``.

    ``teardown=False`` is for the short commands (``safe-launch check``,
    ``audit``), whose work is done and written when they end: tearing down
    the interpreter after a check of nova's configuration (about 800
    modules, every object the collector did not see while the launch held
    it off) took 100-300 ms of a 0.5 s command here, longer than the check
    of every value.  A launch keeps the interpreter's own exit: the
    libraries' exit handlers (futurist's thread joins, multiprocessing's
    children) run there.
    """
    code = status_of(code)
    if teardown and not (sys.flags.inspect or (not sys.flags.ignore_environment
                                               and os.environ.get("PYTHONINSPECT"))):
        sys.exit(code)
    import logging
    from safe_launch import signals
    signals.give_back_terminal()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)


def status_of(code):
    """A SystemExit code as an exit status: None is 0, a message is 1 (as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    from safe_launch import events
    events.ConsoleSink.write_line(sys.stderr, "%s\n" % (code,))
    return 1


def launch(name, prog):
    """The console script ``prog`` of the built-in spec ``name`` (safe_launch.spec).

    The stop handlers go in before anything heavy is imported (the launcher,
    oslo.config, the service), and every import after them is inside the
    ``try``: from here on SIGTERM/SIGINT are a clean stop (exit 0, one line;
    once the audit trail is open, its record too).
    """
    from safe_launch import signals
    signals.install_early()
    try:
        from safe_launch import safe_main
        from safe_launch import spec as specs
        code = safe_main(getattr(specs, name))
    except signals.StopRequested as stop:   # before the launch's emitter existed
        signals.ignore_stop()
        stopped_at_startup(name, prog, stop)
        code = 0
    signals.ignore_stop()           # the launch has decided its status: keep it
    finish(code)


def stopped_at_startup(name, prog, stop):
    """A stop while the launcher itself was imported is a launch too: its
    ``launch.started`` and ``stop.requested`` records go to the trail the
    environment (or the default) names, as for any launch that ends before
    its files are known; a trail that cannot be opened fails open."""
    from safe_launch import events
    try:
        from safe_launch import launcher
        from safe_launch import spec as specs
        launch = launcher.Launch(getattr(specs, name), sys.argv[1:], process_hygiene=False)
        launch.started()
        launch.sinks.ensure_trail(launch.files)
        launch.emitter.emit(events.STOP_REQUESTED, summary="stop requested (%s) during startup"
                            % stop, signal=str(stop), phase="startup")
        launch.emitter.close()
    except Exception:       # the stop stands whatever happens here; its one line too
        events.ConsoleSink.write_line(None, "%s: stop requested (%s) during startup\n"
                                      % (prog, stop))
