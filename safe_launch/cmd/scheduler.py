"""nova-scheduler-safe: the drop-in for nova's nova-scheduler console script.

The stop handlers go in before anything heavy is imported (the launcher,
oslo.config, nova): from here on SIGTERM/SIGINT are a clean stop (exit 0,
one line; once the audit trail is open, its record too).
"""

from safe_launch import signals


def main():
    signals.install_early()
    from safe_launch.cmd import finish
    from safe_launch import NOVA_SCHEDULER, safe_main
    try:
        code = safe_main(NOVA_SCHEDULER)
    except signals.StopRequested as stop:   # before the launch's emitter existed
        from safe_launch import events
        events.ConsoleSink.write_line(None, "%s: stop requested (%s) during startup\n"
                                      % (NOVA_SCHEDULER.prog, stop))
        code = 0
    signals.ignore_stop()           # the launch has decided its status: keep it
    finish(code)
