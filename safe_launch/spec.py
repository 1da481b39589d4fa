"""What safe_launch needs to know about one service."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    """Describes one oslo.service-based service.

    ``workers_opt`` is ``"<group>.<option>"`` holding the worker count;
    ``default_backend`` is the concurrency backend the service uses when the
    configuration says ``auto`` (nova >= 33 services: ``threading``);
    ``needs_privilege_gain``: see :mod:`safe_launch.hygiene`.
    """

    binary: str
    topic: str
    workers_opt: str
    default_backend: str = "threading"
    project: str = "nova"
    package: str = "nova"
    extra: str = "nova"
    # The service gains privileges by exec (sudo rootwrap, privsep-helper, as
    # nova-compute does): then no_new_privs, which would stop that, is not set.
    needs_privilege_gain: bool = False

    @property
    def prog(self):
        """The name safe_launch reports errors under."""
        return self.binary + "-safe"

    @property
    def workers_group(self):
        return self.workers_opt.rpartition(".")[0] or None

    @property
    def workers_name(self):
        return self.workers_opt.rpartition(".")[2]


NOVA_SCHEDULER = ServiceSpec(binary="nova-scheduler", topic="scheduler",
                             workers_opt="scheduler.workers")
NOVA_CONDUCTOR = ServiceSpec(binary="nova-conductor", topic="conductor",
                             workers_opt="conductor.workers")
