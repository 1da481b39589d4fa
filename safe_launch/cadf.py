"""CADF audit events on the message bus, for a fleet-wide collector.

Each event becomes a pycadf event published by oslo.messaging's notifier
(driver ``messagingv2``, ``[oslo_messaging_notifications] topics``, priority
INFO, event type ``audit.safe_launch.<event>``) on the service's own
notification transport, the way keystonemiddleware publishes its audit
events.  Publishing is off the launch path: :meth:`CadfSink.handle` only
queues (dropping and counting when the queue is full) and a daemon thread
sends with ``retry=0``, so a dead broker never delays the launch.  Only the
process that created the sink publishes; events of forked children are
dropped and counted.

Mapping: ``launch.started`` -> activity/start/pending; decisions (argv,
config, workers, patching, reload) -> control/evaluate with a policy reason;
``stop.requested``, ``service.stopped``, ``worker.died`` -> stop; failures
carry ``Reason('sysexits', <exit code>)``.  Initiator
``service/security/account/user`` (the launching user), target the
service, typed by its spec (``service/compute/scheduler`` for
nova-scheduler, ``service/storage/block/scheduler`` for cinder-scheduler),
observer ``service/security`` (safe-launch);
the launch id is the ``correlation_id`` tag; the masked event is attached.

``import oslo_messaging`` imports eventlet: it happens in the constructor,
which the launcher calls only after the concurrency backend is chosen.
"""

import os
import pwd
import socket
import sys
import threading
import uuid

from safe_launch import events
from safe_launch import native

EVENT_TYPE_PREFIX = "audit.safe_launch."
_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:safe-launch")
_CONTROL = frozenset((events.ARGV_CHECKED, events.HYGIENE_APPLIED, events.CONFIG_PARSED,
                      events.CONFIG_VALIDATED,
                      events.WORKERS_BOUNDED, events.PATCHING_APPLIED, events.IMPORTS_CHECKED,
                      events.RELOAD_ACCEPTED, events.RELOAD_REFUSED))
_ACTIONS = {events.LAUNCH_STARTED: "start", events.SERVICE_CREATED: "create",
            events.SERVICE_READY: "start", events.WORKER_STARTED: "start",
            events.WORKER_DIED: "stop", events.STOP_REQUESTED: "stop",
            events.SERVICE_STOPPED: "stop", events.LAUNCH_FAILED: "start"}
_OUTCOMES = frozenset(("success", "failure", "pending", "unknown"))


POLL = 0.05        # seconds between looks at the queue, in eventlet mode


def _green_threads():
    """Whether eventlet patched threading: this sink's thread is then a greenthread."""
    patcher = sys.modules.get("eventlet.patcher")
    return bool(patcher and patcher.is_monkey_patched("thread"))


def _id(*parts):
    return str(uuid.uuid5(_NS, "/".join(map(str, parts))))


def build_event(event, host, uid, user, service, service_type):
    """The pycadf ``Event`` for a (masked) safe_launch ``event``."""
    from pycadf import attachment
    from pycadf import cadftype
    from pycadf import event as cadf_event
    from pycadf import reason
    from pycadf import resource
    from pycadf import tag

    control = event.event in _CONTROL
    if event.outcome == "failure" and "exit_code" in event.data:
        why = reason.Reason(reasonType="sysexits", reasonCode=str(event.data["exit_code"]))
    elif control:
        why = reason.Reason(policyType="safe_launch", policyId=event.event)
    elif event.data.get("signal"):
        why = reason.Reason(reasonType="signal", reasonCode=str(event.data["signal"]))
    else:
        why = None
    cadf = cadf_event.Event(
        eventType=cadftype.EVENTTYPE_CONTROL if control else cadftype.EVENTTYPE_ACTIVITY,
        id=_id("event", event.launch_id, event.seq), eventTime=event.ts, name=event.event,
        action="evaluate" if control else _ACTIONS.get(event.event, "unknown"),
        outcome=("pending" if event.event == events.LAUNCH_STARTED
                 else event.outcome if event.outcome in _OUTCOMES else "unknown"),
        initiator=resource.Resource(id=_id("user", host, uid), name=user,
                                    typeURI="service/security/account/user"),
        target=resource.Resource(id=_id("service", host, service), name=service,
                                 typeURI=service_type),
        observer=resource.Resource(id=_id("observer", host), name="safe-launch",
                                   typeURI="service/security"),
        reason=why)
    cadf.add_tag(tag.generate_name_value_tag("correlation_id", event.launch_id))
    cadf.add_attachment(attachment.Attachment(typeURI="mime:application/json",
                                              content=event.as_dict(), name="safe_launch"))
    return cadf


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "uid %d" % uid


class CadfSink:
    """Publishes events as CADF notifications from a background thread.

    Raises (oslo.messaging errors) only from the constructor, when the
    transport URL is invalid; ``handle`` never raises nor blocks.
    ``dropped`` counts events not published (queue full, forked child, an
    error building or handing over the event); ``sent`` those handed to the
    notifier, which logs delivery errors (a dead broker) instead of raising.
    Deliveries are known only later, in the thread: ``on_failure(exc)`` and
    ``on_success()`` report them (the emitter's sink_failed / sink_ok).
    """

    delivers_later = True       # handle() only queues: the emitter learns nothing from it

    def __init__(self, conf, service, service_type, transport=None, publisher_id=None,
                 queue_size=256, on_failure=None, on_success=None):
        import logging

        import oslo_messaging

        self.host = socket.gethostname()
        self.uid = os.getuid()
        self.user = _user(self.uid)
        self.service, self.service_type = service, service_type
        if transport is None:
            transport = oslo_messaging.get_notification_transport(conf)
        self.notifier = oslo_messaging.Notifier(
            transport, publisher_id=publisher_id or "safe-launch.%s" % self.host,
            driver="messagingv2", retry=0)
        self.sent = self.dropped = self.undelivered = 0
        self.on_failure = on_failure
        self.on_success = on_success
        # The notifier logs a failed delivery (a dead broker) with its
        # traceback and the whole payload: from our thread, that is one
        # counted sink failure, not a multi-line dump on stderr.
        logging.getLogger("oslo_messaging.notify.messaging").addFilter(self._delivery_failed)
        self._pid = os.getpid()
        # A native queue: handle() also runs in native threads (the monitor),
        # and in eventlet mode this sink's thread is a greenthread, which a
        # green queue would never wake from another OS thread; so there it
        # polls (_next).
        self._queues = native.module("queue")
        self._queue = self._queues.Queue(queue_size)
        self._green = _green_threads()
        self._thread = threading.Thread(target=self._publish, name="safe-launch-cadf",
                                        daemon=True)
        self._thread.start()

    def _delivery_failed(self, record):
        thread = getattr(self, "_thread", None)
        if thread is None or record.thread != thread.ident or record.levelno < 30:
            return True         # not about our deliveries
        self.undelivered += 1
        if self.on_failure is not None:
            error = record.exc_info[1] if record.exc_info else None
            self.on_failure(RuntimeError("CADF event not delivered: %s" % (
                type(error).__name__ if error else record.getMessage().split(".")[0])))
        return False

    def handle(self, event):
        if os.getpid() != self._pid:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(event)
        except self._queues.Full:
            self.dropped += 1

    def _next(self):
        if not self._green:
            return self._queue.get()
        import eventlet
        while True:
            try:
                return self._queue.get_nowait()
            except self._queues.Empty:
                eventlet.sleep(POLL)

    def _publish(self):
        while (event := self._next()) is not None:
            undelivered = self.undelivered
            try:
                payload = build_event(event, self.host, self.uid, self.user, self.service,
                                      self.service_type).as_dict()
                self.notifier.info({}, EVENT_TYPE_PREFIX + event.event, payload)
            except Exception:           # e.g. pycadf refused a value: the thread goes on
                self.dropped += 1
            else:
                self.sent += 1
                # Delivered: no failure was logged from this thread meanwhile.
                if self.undelivered == undelivered and self.on_success is not None:
                    self.on_success()

    def close(self, timeout=2.0):
        """Let queued events go out for up to ``timeout`` seconds."""
        if os.getpid() != self._pid:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except self._queues.Full:
            return
        self._thread.join(timeout)
        if not self._thread.is_alive():
            import logging
            logging.getLogger("oslo_messaging.notify.messaging").removeFilter(
                self._delivery_failed)
