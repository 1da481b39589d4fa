"""Audit events to the systemd journal (native protocol), or to syslog.

Each event is one datagram.  To journald: ``MESSAGE``, ``PRIORITY``,
``SYSLOG_IDENTIFIER=safe-launch``, ``SYSLOG_FACILITY`` (authpriv) and the
``AUDIT_EVENT``, ``AUDIT_OUTCOME``, ``AUDIT_LAUNCH_ID``, ``AUDIT_SEQ``,
``AUDIT_TS`` and ``AUDIT_DATA`` (JSON, cut at 32 KiB) fields (``MESSAGE`` is
one line: :func:`events.one_line`), so
``journalctl SYSLOG_IDENTIFIER=safe-launch AUDIT_EVENT=launch.failed`` finds
them.  Without journald: one RFC 3164 line to ``/dev/log`` (no data).
A send that fails or would block longer than 100 ms raises, so the emitter
counts it; the service keeps running.
"""

import json
import os
import socket
import stat
import struct

from safe_launch import events

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SYSLOG_SOCKET = "/dev/log"
IDENTIFIER = "safe-launch"
LOG_AUTHPRIV = 10
MAX_DATA = 32768
SEND_TIMEOUT = 0.1
_NOTICE = frozenset(("launch.started", "service.ready", "stop.requested", "service.stopped"))


def priority(event):
    """syslog severity: err for failures, notice for milestones, else info."""
    if event.outcome == "failure":
        return 3
    return 5 if event.event in _NOTICE else 6


def _field(name, value):
    """One field in journald's native format (binary form when multi-line)."""
    value = str(value).encode("utf-8", "replace")
    if b"\n" in value:
        return b"%s\n%s%s\n" % (name.encode(), struct.pack("<Q", len(value)), value)
    return b"%s=%s\n" % (name.encode(), value)


def _is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


class JournalSink:
    """Sends events to ``journal_socket`` when it exists, else ``syslog_socket``."""

    def __init__(self, journal_socket=JOURNAL_SOCKET, syslog_socket=SYSLOG_SOCKET,
                 identifier=IDENTIFIER):
        self.native = _is_socket(journal_socket)
        self.path = journal_socket if self.native else syslog_socket
        self.identifier = identifier
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.settimeout(SEND_TIMEOUT)

    @classmethod
    def available(cls, journal_socket=JOURNAL_SOCKET, syslog_socket=SYSLOG_SOCKET):
        """Whether the journal's or syslog's socket exists."""
        return _is_socket(journal_socket) or _is_socket(syslog_socket)

    def handle(self, event):
        # One line, even for a record that did not come through the emitter.
        message = events.one_line(event.event + (": " + event.summary if event.summary else ""))
        if self.native:
            data = json.dumps(event.data, sort_keys=True, default=str)
            if len(data) > MAX_DATA:
                data = data[:MAX_DATA] + " (cut)"
            payload = b"".join(_field(*f) for f in (
                ("MESSAGE", message), ("PRIORITY", priority(event)),
                ("SYSLOG_IDENTIFIER", self.identifier), ("SYSLOG_FACILITY", LOG_AUTHPRIV),
                ("AUDIT_EVENT", event.event), ("AUDIT_OUTCOME", event.outcome),
                ("AUDIT_LAUNCH_ID", event.launch_id), ("AUDIT_SEQ", event.seq),
                ("AUDIT_TS", event.ts), ("AUDIT_DATA", data)))
        else:
            payload = ("<%d>%s[%d]: %s launch_id=%s seq=%d outcome=%s" % (
                LOG_AUTHPRIV * 8 + priority(event), self.identifier, os.getpid(),
                message, event.launch_id, event.seq,
                event.outcome)).encode("utf-8", "replace")
        self._sock.sendto(payload, self.path)

    def close(self):
        self._sock.close()
