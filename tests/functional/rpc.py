"""``python -m tests.functional.rpc URL TOPIC [load COUNT | -]``: call oslo_rpc_server_ping.

Runs in its own process so that oslo.messaging (and the eventlet it imports)
never loads into the test runner.  Prints the reply, exits 1 on error.
With ``load COUNT``, calls COUNT times whatever fails (a load on the
workers) and prints ``<replies> <failures>``; with ``-``, calls once per
line read from stdin and prints each reply (one process for a test's many
checks: no interpreter start per check).
"""

import sys


def client_of(url, topic, timeout=15):
    from oslo_config import cfg
    import oslo_messaging as messaging

    conf = cfg.CONF     # oslo.messaging registers its tracing options here
    conf([])
    transport = messaging.get_rpc_transport(conf, url=url)
    target = messaging.Target(topic=topic, exchange="nova")
    return transport, messaging.get_rpc_client(transport, target, timeout=timeout)


def ping(url, topic):
    transport, client = client_of(url, topic)
    try:
        return client.call({}, "oslo_rpc_server_ping")
    finally:
        transport.cleanup()


def load(url, topic, count):
    transport, client = client_of(url, topic, timeout=5)
    replies = failures = 0
    try:
        for _ in range(count):
            try:
                client.call({}, "oslo_rpc_server_ping")
                replies += 1
            except Exception:       # a worker killed meanwhile (the OOM killer)
                failures += 1
        return "%d %d" % (replies, failures)
    finally:
        transport.cleanup()


def serve(url, topic):
    transport, client = client_of(url, topic)
    try:
        for _ in sys.stdin:
            try:
                reply = client.call({}, "oslo_rpc_server_ping")
            except Exception as exc:
                reply = "%s: %s" % (type(exc).__name__, exc)
            print(" ".join(str(reply).split()), flush=True)
    finally:
        transport.cleanup()


if __name__ == "__main__":
    try:
        if sys.argv[3:] == ["-"]:
            serve(sys.argv[1], sys.argv[2])
        elif sys.argv[3:4] == ["load"]:
            print(load(sys.argv[1], sys.argv[2], int(sys.argv[4])))
        else:
            print(ping(sys.argv[1], sys.argv[2]))
    except Exception as exc:
        print("%s: %s" % (type(exc).__name__, exc))
        sys.exit(1)
