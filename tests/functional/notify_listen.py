"""``python -m tests.functional.notify_listen URL EXCHANGE``: print notifications.

A notification listener on topic ``notifications`` of ``EXCHANGE`` over the
transport at ``URL``, in its own process so that oslo.messaging (and the
eventlet it imports) never loads into the test runner.  Prints ``listening``
once it consumes, then one JSON line per notification received (event type,
publisher id, priority, payload) until SIGTERM.
"""

import json
import signal
import sys
import threading


class Printer:
    def __init__(self):
        self.lock = threading.Lock()

    def _print(self, priority, publisher_id, event_type, payload):
        with self.lock:
            print(json.dumps({"priority": priority, "publisher_id": publisher_id,
                              "event_type": event_type, "payload": payload},
                             default=str), flush=True)

    def audit(self, ctxt, publisher_id, event_type, payload, metadata):
        self._print("audit", publisher_id, event_type, payload)

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self._print("info", publisher_id, event_type, payload)

    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        self._print("warn", publisher_id, event_type, payload)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        self._print("error", publisher_id, event_type, payload)


def listen(url, exchange):
    from oslo_config import cfg
    import oslo_messaging as messaging

    conf = cfg.CONF     # oslo.messaging registers its tracing options here
    conf([])
    transport = messaging.get_notification_transport(conf, url=url)
    targets = [messaging.Target(topic="notifications", exchange=exchange)]
    listener = messaging.get_notification_listener(transport, targets, [Printer()],
                                                   executor="threading")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signo, frame: stop.set())
    listener.start()
    print("listening", flush=True)
    while not stop.wait(0.5):
        pass
    listener.stop()
    listener.wait()
    transport.cleanup()


if __name__ == "__main__":
    try:
        listen(sys.argv[1], sys.argv[2])
    except Exception as exc:
        print("%s: %s" % (type(exc).__name__, exc), flush=True)
        sys.exit(1)
