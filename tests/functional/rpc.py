"""``python -m tests.functional.rpc URL TOPIC``: call oslo_rpc_server_ping.

Runs in its own process so that oslo.messaging (and the eventlet it imports)
never loads into the test runner.  Prints the reply, exits 1 on error.
"""

import sys


def ping(url, topic, timeout=15):
    from oslo_config import cfg
    import oslo_messaging as messaging

    conf = cfg.CONF     # oslo.messaging registers its tracing options here
    conf([])
    transport = messaging.get_rpc_transport(conf, url=url)
    try:
        target = messaging.Target(topic=topic, exchange="nova")
        client = messaging.get_rpc_client(transport, target, timeout=timeout)
        return client.call({}, "oslo_rpc_server_ping")
    finally:
        transport.cleanup()


if __name__ == "__main__":
    try:
        print(ping(sys.argv[1], sys.argv[2]))
    except Exception as exc:
        print("%s: %s" % (type(exc).__name__, exc))
        sys.exit(1)
