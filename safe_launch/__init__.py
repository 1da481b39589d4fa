"""safe_launch: a runtime-hardening launcher for OpenStack services.

Importing this package never imports nova, eventlet or oslo.messaging: the
concurrency backend must be chosen before any of them is loaded.
"""

from safe_launch.spec import NOVA_CONDUCTOR, NOVA_SCHEDULER, ServiceSpec

__all__ = ["NOVA_CONDUCTOR", "NOVA_SCHEDULER", "ServiceSpec", "safe_main"]


def safe_main(spec, argv=None):
    """Launch the service ``spec`` describes; return its exit status."""
    from safe_launch import launcher
    return launcher.safe_main(spec, argv)
