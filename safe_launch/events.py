"""One emitter through which every event of a launch passes.

Each phase reports what it decided as an :class:`Event`; the emitter numbers
it, stamps it (UTC, ``Z``), masks it once and hands the same record to every
sink (console, audit file, journal, CADF notifier).  A sink that fails after
the launch never stops the service: the failure is counted and reported.
"""

import dataclasses
import datetime
import itertools
import sys
import threading
import uuid

from safe_launch import recordtype

# The vocabulary of events, in launch order.
LAUNCH_STARTED = "launch.started"
ARGV_CHECKED = "argv.checked"
HYGIENE_APPLIED = "hygiene.applied"
CONFIG_PARSED = "config.parsed"
CONFIG_VALIDATED = "config.validated"
CONFIG_WARNING = "config.warning"
WORKERS_BOUNDED = "workers.bounded"
PATCHING_APPLIED = "patching.applied"
IMPORTS_CHECKED = "imports.checked"
SERVICE_CREATED = "service.created"
SERVICE_READY = "service.ready"
WORKER_STARTED = "worker.started"
WORKER_DIED = "worker.died"
WORKER_RESTARTED = "worker.restarted"
RELOAD_COALESCED = "reload.coalesced"
RELOAD_ACCEPTED = "reload.accepted"
RELOAD_REFUSED = "reload.refused"
RELOAD_TIMED_OUT = "reload.timed_out"
STOP_REQUESTED = "stop.requested"
STOP_FORCED = "stop.forced"
SERVICE_STOPPED = "service.stopped"
LAUNCH_FAILED = "launch.failed"


# A summary longer than this is cut (after masking, so a cut never splits a
# secret into an unmasked prefix); the event's data keeps the whole text.
MAX_SUMMARY = 4096


def one_line(text, limit=None):
    """``text`` as one line of printable characters: the one escaping rule.

    Every character ``str.isprintable`` rejects except the plain space (C0/C1
    controls such as ``\\n``, ``\\r``, ESC, NEL ``\\x85``; the separators
    ``\\u2028``/``\\u2029``; format characters such as bidi overrides; lone
    surrogates; unassigned code points) is shown as its Python escape, so a
    value can never start a forged second line on a terminal, in a log or in
    the journal.  Backslashes are left alone: the function is idempotent, and
    the masker knows the escaped form of every secret.  With ``limit``, a
    longer result is cut and ends in ``...``.
    """
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)
    if limit is not None and len(text) > limit:
        text = text[:limit - 3] + "..."
    return text


def _escape(ch):
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")


def utc_now():
    """RFC 3339 UTC timestamp with microseconds and a ``Z``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Event(recordtype.Frozen):
    launch_id: str
    seq: int
    ts: str
    event: str
    outcome: str          # CADF outcome: success, failure, pending, unknown
    summary: str          # one human line (see one_line), already masked
    data: dict            # structured detail, already masked

    def as_dict(self):
        return dataclasses.asdict(self)


class ConsoleSink:
    """One line per decision on stderr: ``<prog>: <summary>``."""

    def __init__(self, prog, stream=None, quiet=False):
        self.prog = prog
        self.stream = stream or sys.stderr
        self.quiet = quiet

    def handle(self, event):
        """Write the line; a console that cannot take it raises OSError (counted, fail-open).

        After a terminal hangup every write fails with EIO, a closed pipe
        with EPIPE, a closed stream with ValueError; none of them reaches
        the caller as anything but one OSError for the emitter to count.
        """
        if self.quiet and event.outcome != "failure":
            return
        if event.summary and not self.write_line(self.stream, "%s: %s\n" % (
                self.prog, event.summary)):
            raise OSError("console (%s) cannot be written" % getattr(
                self.stream, "name", "stderr"))

    @staticmethod
    def write_line(stream, line):
        """Write and flush ``line`` on ``stream`` (None: stderr); False if it cannot be.

        The one way the launcher writes to its console outside logging.
        """
        stream = sys.stderr if stream is None else stream
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):   # no stderr, closed, in-memory
            fd = None
        try:
            if fd is None:
                stream.write(line)
                stream.flush()
                return True
            stream.flush()
            encoding = getattr(stream, "encoding", None) or "utf-8"
            _write_bounded(fd, line.encode(encoding, "backslashreplace"))
        except (AttributeError, OSError, ValueError):   # no stderr, EIO/EPIPE, closed, stuck
            return False
        return True


class Collector:
    """A sink that keeps every event (``safe-launch check``, which writes no trail)."""

    def __init__(self):
        self.events = []

    def handle(self, event):
        self.events.append(event)


# A console that takes no bytes for this long fails (counted, fail-open); one
# that has failed so gets no wait at all until it takes a line again.
CONSOLE_TIMEOUT = 1.0
_CHUNK = 512            # fits whenever poll() says writable: a pipe, tty or socket
_stalled = set()        # descriptors whose last write timed out


def _write_bounded(fd, data, timeout=None):
    """Write ``data`` to ``fd`` without ever blocking longer than ``timeout``.

    stderr may be a journal stream or a pipe whose reader stopped reading
    (SIGSTOPped, hung), or a terminal held by Ctrl-S: a plain blocking
    write() there waits forever, while holding the emitter's lock, so the
    start and stop deadlines, which report through the emitter before they
    exit, would wait with it.  Each chunk is written only once poll() says
    the descriptor takes it (the file's flags are shared with other
    processes and are not changed); TimeoutError when it does not in time.
    """
    from safe_launch import native
    select, write = native.module("select"), native.module("os").write
    timeout = CONSOLE_TIMEOUT if timeout is None else timeout
    if fd in _stalled:
        timeout = 0
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    view = memoryview(data)
    while view:
        events = poller.poll(timeout * 1000)
        if not events:
            _stalled.add(fd)
            raise TimeoutError("console takes no output (for %ss)" % timeout)
        if events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL) and \
                not events[0][1] & select.POLLOUT:
            raise BrokenPipeError("console is closed")
        view = view[write(fd, view[:_CHUNK]):]
    _stalled.discard(fd)


class Emitter:
    """Numbers, masks and fans out events to sinks.

    ``mask`` is applied to ``summary`` and ``data`` before any sink sees them,
    so no sink can leak what the masker knows to be secret; then the summary
    is made one line (:func:`one_line`): masking first, so a secret holding a
    newline is matched raw, never half-escaped.
    """

    def __init__(self, sinks=(), mask=None, launch_id=None):
        self.launch_id = launch_id or str(uuid.uuid4())
        self.sinks = list(sinks)
        self.mask = mask or (lambda value: value)
        self.sink_failures = {}
        self.failing = set()      # names of the sinks whose last delivery failed
        self.on_sink_change = None  # called (name, failing) when a sink fails or recovers
        self.history = []         # every record, for sinks opened later (the audit file)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def add_sink(self, sink):
        self.sinks.append(sink)

    def emit(self, event, summary="", outcome="success", **data):
        with self._lock:
            record = Event(launch_id=self.launch_id, seq=next(self._seq),
                           ts=utc_now(), event=event, outcome=outcome,
                           summary=one_line(self.mask(summary), MAX_SUMMARY),
                           data=self.mask(data))
            self.history.append(record)
            for sink in self.sinks:
                self.deliver(sink, record)
        return record

    def deliver(self, sink, record):
        try:
            sink.handle(record)
        except Exception as exc:  # a sink never breaks the launch
            self.sink_failed(type(sink).__name__, exc)
        else:
            # A sink that only queues (CADF) learns of its deliveries later
            # and reports them itself (sink_ok / sink_failed).
            if not getattr(sink, "delivers_later", False):
                self.sink_ok(type(sink).__name__)

    def replay(self, sink):
        """Hand ``sink`` every earlier record (fail-open), then add it."""
        with self._lock:
            for record in self.history:
                self.deliver(sink, record)
            self.sinks.append(sink)

    def sink_failed(self, name, exc):
        """Count a sink failure; the first one per sink is reported on stderr.

        Never raises: when stderr is the stream that failed (the console
        sink), the report is lost with it and the count is what remains
        (the status line says which sinks are failing and how many failures).
        """
        self.sink_failures[name] = self.sink_failures.get(name, 0) + 1
        if self.sink_failures[name] == 1:
            ConsoleSink.write_line(None, "safe_launch: event sink %s failed: %s\n"
                                   % (name, self.mask(str(exc))))
        if name not in self.failing:
            self.failing.add(name)
            self._sink_changed(name, True)

    def sink_ok(self, name):
        """A delivery to sink ``name`` succeeded: a failing sink has recovered.

        "Recovered" is the first successful delivery after failures (for
        the audit file, the record that follows its ``audit.gap``).
        """
        if name in self.failing:
            self.failing.discard(name)
            self._sink_changed(name, False)

    def _sink_changed(self, name, failing):
        if self.on_sink_change is not None:
            try:
                self.on_sink_change(name, failing)
            except Exception:       # a status update never breaks the launch
                pass

    def close(self):
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    self.sink_failed(type(sink).__name__, exc)
