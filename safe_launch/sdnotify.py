"""A small sd_notify(3) client: readiness, status, reload, stop and watchdog.

Stdlib only and imported before the concurrency backend is chosen, so it does
nothing at import time.  Every method is a no-op when ``NOTIFY_SOCKET`` is
unset (not under systemd, or ``Type=`` other than notify) and none of them
raises: a failed send is counted in ``errors`` / ``last_error`` and reported
through the return value, because losing a STATUS line must never take the
service down.

With ``NotifyAccess=main`` systemd only accepts messages from the main
process: send from the launcher, not from forked workers.

The backends announce readiness on their own, too early: cotyledon when its
master loop starts, oslo.service's eventlet path through ``notify_once()``,
both before any worker has started.  :func:`suppress_backend_ready` takes the
socket away from them (both read ``NOTIFY_SOCKET`` at call time) and hands it
to the launcher, which sends READY=1 when a worker really serves.
"""

import os
import time

# The variables systemd passes; removed by suppress_backend_ready() so that
# nothing started after it (backend, workers, exec'd helpers) can talk to the
# service manager behind the launcher's back.
_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")

# systemd reads a notification into a PIPE_BUF-sized buffer; keep single
# values (in practice STATUS=) well below it.
_MAX_VALUE = 1024


class Notifier(object):
    """Sends sd_notify datagrams to one socket.

    ``address`` is spelled as systemd passes it: an absolute path or
    ``@abstract``; None disables the notifier.
    """

    def __init__(self, address=None, watchdog_usec=None, watchdog_pid=None):
        self.address = address or None
        self.watchdog_usec = watchdog_usec
        self.watchdog_pid = watchdog_pid
        self.sent = 0
        self.errors = 0
        self.last_error = None

    @classmethod
    def from_env(cls, environ=os.environ):
        """A notifier for the socket and watchdog systemd passed in ``environ``.

        ``environ`` is read once, here, and not modified.
        """
        return cls(environ.get("NOTIFY_SOCKET"), environ.get("WATCHDOG_USEC"),
                   environ.get("WATCHDOG_PID"))

    @property
    def enabled(self):
        return self.address is not None

    def notify(self, **fields):
        """Send ``KEY=value`` lines in one datagram, e.g. ``notify(READY=1)``.

        Keys are upper-cased; True/False become 1/0; newlines in values become
        spaces (the protocol is line based).  Returns True when the datagram
        was sent, False when disabled, empty or failed.
        """
        if not self.enabled or not fields:
            return False
        try:
            lines = []
            for key, value in fields.items():
                if isinstance(value, bool):
                    value = int(value)
                value = " ".join(str(value).splitlines())
                if len(value) > _MAX_VALUE:
                    value = value[:_MAX_VALUE - 3] + "..."
                lines.append("%s=%s" % (key.upper(), value))
            data = "\n".join(lines).encode("utf-8", "replace")
        except Exception as exc:
            # a value whose __str__ fails must not take the caller down
            self._failed("%s: %s" % (type(exc).__name__, exc))
            return False
        return self._send(data)

    def ready(self, status=None):
        """READY=1: startup finished, or a reload finished (or was refused)."""
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=status)

    def status(self, text):
        """STATUS=: the free-text line ``systemctl status`` shows."""
        return self.notify(STATUS=text)

    def stopping(self, status=None):
        """STOPPING=1: shutdown has begun."""
        if status is None:
            return self.notify(STOPPING=1)
        return self.notify(STOPPING=1, STATUS=status)

    def reloading(self, status=None):
        """RELOADING=1 with the CLOCK_MONOTONIC timestamp.

        systemd >= 253 requires MONOTONIC_USEC for Type=notify-reload; older
        versions ignore it.  The unit stays "reloading" until the next
        :meth:`ready`, so call that whether the reload was applied or refused.
        """
        fields = {"RELOADING": 1,
                  "MONOTONIC_USEC": time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}
        if status is not None:
            fields["STATUS"] = status
        return self.notify(**fields)

    def watchdog(self):
        """WATCHDOG=1: the keep-alive ping for WatchdogSec=."""
        return self.notify(WATCHDOG=1)

    def watchdog_interval(self):
        """Seconds between watchdog pings, or None for no pings.

        Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends.  None
        when no watchdog is set, the value is invalid, or WATCHDOG_PID names
        another process (checked at call time, so a forked child gets None).
        """
        if not self.enabled or not self.watchdog_usec:
            return None
        try:
            usec = int(self.watchdog_usec)
            pid = int(self.watchdog_pid) if self.watchdog_pid else None
        except ValueError:
            self._failed("invalid WATCHDOG_USEC/WATCHDOG_PID: %r/%r"
                         % (self.watchdog_usec, self.watchdog_pid))
            return None
        if usec <= 0 or (pid is not None and pid != os.getpid()):
            return None
        return usec / 2e6

    def _send(self, data):
        address = self.address
        if address.startswith("@"):
            address = "\0" + address[1:]
        elif not address.startswith("/"):
            # vsock: (systemd >= 253 in VMs) and relative paths: not supported
            self._failed("unsupported NOTIFY_SOCKET %r" % self.address)
            return False
        # Imported here, not at module level: most launches never notify.
        # The original module: eventlet's green socket would wait in its hub
        # on the very full queue MSG_DONTWAIT is there not to wait on.
        from safe_launch import native
        socket = native.module("socket")
        try:
            # A socket per message: fork- and thread-safe, and the cost is
            # irrelevant at a handful of messages per minute.
            # MSG_DONTWAIT: a datagram socket whose reader has stopped
            # reading (a hung or SIGSTOPped service manager) has a full
            # queue, and a blocking sendto() would wait for it forever: in a
            # signal handler, the stop bound or the exit path.  A notification
            # that cannot go now is dropped and counted.
            with socket.socket(socket.AF_UNIX,
                               socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, socket.MSG_DONTWAIT, address)
        except (OSError, ValueError) as exc:
            # ValueError: an embedded NUL in a path
            self._failed("%s: %s" % (type(exc).__name__, exc))
            return False
        self.sent += 1
        return True

    def _failed(self, why):
        self.errors += 1
        self.last_error = why

    def __repr__(self):
        return "Notifier(%r, sent=%d, errors=%d)" % (self.address, self.sent, self.errors)


def suppress_backend_ready(environ=os.environ):
    """Take the notification socket away from the backend, for the launcher.

    Returns a :class:`Notifier` bound to the original socket and watchdog.
    Removes NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from ``environ``
    (for ``os.environ`` that also unsets them for child processes), so
    cotyledon and oslo.service find no socket and their premature READY=1 is a
    no-op.  Call it before the backend's service manager starts.
    """
    notifier = Notifier.from_env(environ)
    for key in _ENV_KEYS:
        environ.pop(key, None)
    return notifier
