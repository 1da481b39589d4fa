"""``python -m benchmarks.pinger URL TOPIC``: call oslo_rpc_server_ping until stopped.

A persistent process, started once before the launches, so that neither its
interpreter start, its imports nor its AMQP connection count in a launch's
time to the first answered ping.  Prints, one line each, flushed:

    up <monotonic>              connected (after one probing call)
    pong <monotonic> <reply>    a call was answered; the time is taken when
                                the reply arrived (CLOCK_MONOTONIC, the same
                                clock as the parent's time.monotonic())
    error <monotonic> <text>    a call failed otherwise than by timing out

``THREADS`` callers, staggered, each with a ``TIMEOUT`` s timeout, keep a
call in flight at all times, so the service's first answer comes at most
``TIMEOUT / THREADS`` after its RPC server consumes.  After an answer a
caller pauses ``PAUSE`` s so that a running service is not kept busy.
Stops at EOF on stdin or on SIGTERM.
"""

import logging
import signal
import sys
import threading
import time

THREADS = 3
TIMEOUT = 0.5
PAUSE = 0.5

_lock = threading.Lock()


def emit(*words):
    with _lock:
        sys.stdout.write(" ".join(str(w) for w in words) + "\n")
        sys.stdout.flush()


def main(argv=None):
    url, topic = (argv or sys.argv[1:])[:2]
    logging.basicConfig(level=logging.CRITICAL)
    from oslo_config import cfg
    import oslo_messaging as messaging

    conf = cfg.CONF     # oslo.messaging registers its tracing options here
    conf([])
    transport = messaging.get_rpc_transport(conf, url=url)
    target = messaging.Target(topic=topic, exchange="nova")
    client = messaging.get_rpc_client(transport, target, timeout=TIMEOUT)
    stop = threading.Event()

    def call():
        try:
            return client.call({}, "oslo_rpc_server_ping")
        except messaging.MessagingTimeout:
            return None

    try:
        call()                  # connects (and declares the exchange)
    except Exception as exc:    # reported; the loop below keeps trying
        emit("error", "%.6f" % time.monotonic(), "%s: %s" % (type(exc).__name__, exc))
    emit("up", "%.6f" % time.monotonic())

    def loop(index):
        stop.wait(index * TIMEOUT / THREADS)
        while not stop.is_set():
            try:
                reply = call()
            except Exception as exc:
                emit("error", "%.6f" % time.monotonic(), "%s: %s" % (type(exc).__name__, exc))
                stop.wait(0.1)
                continue
            if reply is not None:
                emit("pong", "%.6f" % time.monotonic(), reply)
                stop.wait(PAUSE)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    waiter = threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True)
    waiter.start()
    while not stop.is_set():
        stop.wait(0.5)
    for thread in threads:
        thread.join(TIMEOUT + 1)
    transport.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
