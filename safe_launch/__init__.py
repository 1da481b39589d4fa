"""safe_launch: a runtime-hardening launcher for OpenStack services.

Importing this package never imports a service, eventlet or oslo.messaging: the
concurrency backend must be chosen before any of them is loaded.  Nor does
it import anything else until a name is used: the console scripts install
their stop handlers first, and every millisecond before that is one in
which SIGTERM kills the process without a word.
"""

__all__ = ["CINDER_SCHEDULER", "NOVA_CONDUCTOR", "NOVA_SCHEDULER", "ServiceSpec", "safe_main"]


def __getattr__(name):
    if name in ("CINDER_SCHEDULER", "NOVA_CONDUCTOR", "NOVA_SCHEDULER", "ServiceSpec"):
        from safe_launch import spec
        return getattr(spec, name)
    raise AttributeError("module 'safe_launch' has no attribute %r" % name)


def safe_main(spec, argv=None):
    """Launch the service ``spec`` describes; return its exit status."""
    from safe_launch import launcher
    return launcher.safe_main(spec, argv)
