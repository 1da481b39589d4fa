"""Where a launch's events go beyond the console: the audit trail, the journal, CADF.

The trail opens in the guard phase, from the raw ``[safe_launch]`` values
(so a refused launch is on the record too), moves where the parsed
configuration puts it after the validate phase, and is opened late, at the
default location, for a launch that fails or stops before it has one (its
own location refused, say).
The notifications (CADF over the service's own transport) open after the
patching phase, off the launch path.  A preflight ``check`` opens none of
them.
"""

import os
import socket

# Imported with the sinks, not when the trail opens: the trail opens after the
# hygiene may have switched to the service account, which may not be able
# to read safe_launch's own files (a root-only virtualenv), and a refused
# launch must still be able to record its refusal.
from safe_launch import audit
from safe_launch.errors import ExitCode, LaunchError
from safe_launch import journal
from safe_launch import trail


class Sinks:
    """The sinks one launch opens, added to its ``emitter`` as they open."""

    def __init__(self, emitter, spec, checking=False):
        self.emitter = emitter
        self.spec = spec
        self.checking = checking    # a preflight check writes no trail
        self.trail = None           # the audit file sink, once open
        self.trail_settings = None  # where the trail was last opened, or tried
        self.journal_open = False

    def open_trail(self, files, required, settings=None):
        """Open the audit trail and hand it every record so far.

        ``required``: the launch is going on, so a trail that cannot be opened
        stops it (73, or 78 for a bad key file) unless ``audit_required =
        false``, and a location that needs ``$substitution`` waits for the
        parse; a launch that is already failing takes the default location
        for such a value and only says why when no trail can be opened.  A
        preflight ``check`` writes no trail: it judges the location as the
        launch would open it.
        """
        settings = settings or trail.settings(files, os.environ, self.spec)
        key_refusal = None
        if settings.deferred and required:
            return
        if settings.deferred:
            settings = trail.at_default(settings, self.spec)
        self.trail_settings = settings
        try:
            if self.checking:
                return trail.preflight(settings)
            sink, key_refusal = trail.open_file(settings)
            if sink.anchor_problem:     # records removed since the last launch: say so
                self.emitter.emit(audit.ANCHOR_MISMATCH, outcome="failure",
                                  summary="audit: %s: %s" % (settings.log, sink.anchor_problem),
                                  log=settings.log, anchor=sink.anchor)
            # Written directly, not through the fail-open emitter: a trail that
            # cannot be written now must stop the launch.  One durable sync.
            sink.handle_all(self.emitter.history)
            if key_refusal is not None:
                record = self.emitter.emit(
                    "audit.key_refused", outcome="failure",
                    summary="audit: %s: these records are not keyed" % key_refusal.message,
                    log=settings.log, key_file=settings.key_file, error=key_refusal.message)
                sink.handle(record)
        except Exception as exc:
            message = exc.message if isinstance(exc, LaunchError) else \
                "audit log %s: %s" % (settings.log, exc)      # LaunchErrors name the file
            if required and settings.required:
                if not isinstance(exc, (LaunchError, OSError)):
                    raise
                raise LaunchError(getattr(exc, "code", ExitCode.CANTCREAT), message)
            self.emitter.emit("audit.unavailable", outcome="failure", summary="audit: %s (%s)" % (
                message, "audit_required = false: going on" if required else "not recorded"))
        else:
            self.emitter.add_sink(sink)
            self.trail = sink
        if self.checking:
            return
        if not self.journal_open and settings.journal and journal.JournalSink.available():
            self.emitter.replay(journal.JournalSink())
            self.journal_open = True
        if self.trail is not None and key_refusal is not None and required \
                and settings.required:
            raise key_refusal       # on the record: the launch stops (78)

    def ensure_trail(self, files, conf=None):
        """A failing or stopping launch: its trail, if it has none yet.

        ``conf``: the parsed configuration, once there is one.
        """
        if self.trail is not None or self.checking:
            return
        settings = None
        if conf is not None:
            try:
                settings = trail.settings(files, os.environ, self.spec, conf)
            except Exception:       # an invalid [safe_launch] value: the raw reading
                pass
        settings = settings or trail.settings(files, os.environ, self.spec)
        if settings.deferred:
            settings = trail.at_default(settings, self.spec)
        if settings == self.trail_settings:
            # Tried and refused (a symlink, a directory others can write...).
            # That refusal is what an auditor looks for: it goes to the default
            # location, judged by the same rules, its records naming the
            # refused one.
            settings = trail.at_default(settings, self.spec)
        if settings != self.trail_settings:     # not tried yet
            self.open_trail(files, required=False, settings=settings)

    def move_trail(self, files, conf, required):
        """After the parse: the trail where the parsed configuration puts it.

        The trail opened before the parse is kept when the new one cannot
        be opened, so no record is lost.
        """
        settings = trail.settings(files, os.environ, self.spec, conf)
        old = self.trail
        if old is not None and settings == self.trail_settings:
            return
        self.trail = None
        try:
            self.open_trail(files, required=required, settings=settings)
        finally:
            if self.trail is None:
                self.trail = old
            elif old is not None:
                self.emitter.sinks.remove(old)
                old.close()

    def open_notifications(self, conf):
        """CADF events over the service's own transport, off the launch path."""
        if self.checking or not conf.safe_launch.audit_notifications:
            return
        import oslo_messaging
        from safe_launch import cadf
        # The exchange the project's own defaults would set later (create phase).
        oslo_messaging.set_transport_defaults(control_exchange=self.spec.project)
        try:
            sink = cadf.CadfSink(conf, service=self.spec.binary,
                                 service_type=self.spec.cadf_type,
                                 on_failure=lambda exc: self.emitter.sink_failed("CadfSink", exc),
                                 on_success=lambda: self.emitter.sink_ok("CadfSink"))
        except Exception as exc:        # fail-open: counted and reported once
            self.emitter.sink_failed("CadfSink", exc)
            return
        self.emitter.replay(sink)


def identity(spec, argv):
    """Who launched what, where (for ``launch.started``; argv is masked later)."""
    try:
        with open("/proc/self/loginuid") as f:
            loginuid = int(f.read())
    except (OSError, ValueError):
        loginuid = None
    return {
        "binary": spec.binary, "pid": os.getpid(), "ppid": os.getppid(),
        "host": socket.gethostname(), "argv": list(argv),
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
        "loginuid": None if loginuid == 4294967295 else loginuid,
        "invocation_id": os.environ.get("INVOCATION_ID"),
    }
