"""What safe_launch needs to know about one service: the one description.

Every phase asks the spec, never a project by name: how the options are
registered and the service created (``adapter``, a module with
``load_options(spec)``, ``create(spec, conf)``, ``before_serve()``,
``poison_eventlet()`` and ``mark_patched()``: see doc/writing-a-spec.md),
how the concurrency backend is chosen, whether it forks workers, which
options it knows, where its files may live, where its audit trail goes and
how CADF names it.  Importing this module imports no service.
"""


from safe_launch import recordtype
from safe_launch import requirements


class ServiceSpec(recordtype.Frozen):
    """Describes one oslo.service-based service.

    ``adapter``: the module (dotted name) holding the project's hooks.
    ``topic``: the RPC topic it serves (what the ready line names).
    ``workers_opt``: ``"<group>.<option>"`` holding the worker count; None:
    the service has no such option and runs as one process.
    ``default_backend``: the concurrency backend when neither the
    environment (``patching_env``) nor ``backend_opt`` (an option of
    [DEFAULT], None: the project has none) chooses one.
    ``imports_eventlet``: importing the package imports eventlet, so
    "eventlet imported, nothing patched" is the state before patching.
    ``namespaces``: the oslo-config-generator namespaces whose options it
    knows, recorded in ``known_opts`` (a file in ``safe_launch/data/``, or an
    absolute path) by tools/gen_known_opts.py.  ``requirements``: what it cannot start without
    (:class:`safe_launch.requirements.Requirement`).  ``config_dirs``: where
    symlinked configuration may lead (default ``/etc/<project>``);
    ``audit_log``: the default audit trail (default
    ``/var/log/<project>/safe-launch-audit.jsonl``); ``cadf_type``: the CADF
    target type of its events.
    ``needs_privilege_gain``: see :mod:`safe_launch.hygiene`.
    """

    binary: str
    adapter: str
    namespaces: tuple
    cadf_type: str
    topic: str | None = None
    workers_opt: str | None = None
    project: str | None = None
    package: str | None = None
    extra: str | None = None
    default_backend: str = "threading"
    # The service gains privileges by exec (sudo rootwrap, privsep-helper, as
    # nova-compute does): then no_new_privs, which would stop that, is not set.
    needs_privilege_gain: bool = False
    backend_opt: str | None = None
    patching_env: str | None = None
    imports_eventlet: bool = False
    known_opts: str | None = None
    requirements: tuple = ()
    config_dirs: tuple = None
    audit_log: str | None = None

    def __post_init__(self):
        project = self.project or self.binary.partition("-")[0]
        derived = {"project": project, "package": self.package or project,
                   "extra": self.extra or project, "topic": self.topic or self.binary,
                   "known_opts": self.known_opts or project + ".json",
                   "config_dirs": tuple(self.config_dirs or ("/etc/" + project,)),
                   "audit_log": self.audit_log or
                   "/var/log/%s/safe-launch-audit.jsonl" % project}
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def prog(self):
        """The name safe_launch reports errors under."""
        return self.binary + "-safe"

    @property
    def forks(self):
        """Whether the service has a worker count (else: one process)."""
        return self.workers_opt is not None

    @property
    def workers_group(self):
        return self.workers_opt.rpartition(".")[0] or None if self.forks else None

    @property
    def workers_name(self):
        return self.workers_opt.rpartition(".")[2] if self.forks else None


# nova >= 33: threading unless [DEFAULT] concurrency_backend or the
# environment says eventlet; both databases and a message bus.
_NOVA = dict(
    adapter="safe_launch.adapters.nova", default_backend="threading",
    backend_opt="concurrency_backend", patching_env="OS_NOVA_DISABLE_EVENTLET_PATCHING",
    namespaces=("nova.conf", "oslo.log", "oslo.messaging", "oslo.policy", "oslo.privsep",
                "oslo.service.periodic_task", "oslo.service.service", "oslo.middleware",
                "oslo.concurrency", "keystonemiddleware.auth_token"),
    requirements=requirements.DATABASES_AND_BUS + (
        requirements.Requirement("api_database", "connection", "database"),))

NOVA_SCHEDULER = ServiceSpec(binary="nova-scheduler", topic="scheduler",
                             workers_opt="scheduler.workers",
                             cadf_type="service/compute/scheduler", **_NOVA)
NOVA_CONDUCTOR = ServiceSpec(binary="nova-conductor", topic="conductor",
                             workers_opt="conductor.workers",
                             cadf_type="service/compute/conductor", **_NOVA)

# cinder 29: importing cinder imports eventlet; eventlet unless
# OS_CINDER_DISABLE_EVENTLET_PATCHING says otherwise; the scheduler has no
# workers option (one process) and serves the topic named as its binary.
CINDER_SCHEDULER = ServiceSpec(
    binary="cinder-scheduler", adapter="safe_launch.adapters.cinder",
    workers_opt=None, default_backend="eventlet",
    patching_env="OS_CINDER_DISABLE_EVENTLET_PATCHING", imports_eventlet=True,
    namespaces=("cinder", "castellan.config", "keystonemiddleware.auth_token", "osprofiler",
                "oslo.concurrency", "oslo.db", "oslo.log", "oslo.messaging", "oslo.middleware",
                "oslo.policy", "oslo.privsep", "oslo.reports", "oslo.service.periodic_task",
                "oslo.service.service", "oslo.versionedobjects"),
    requirements=requirements.DATABASES_AND_BUS,
    cadf_type="service/storage/block/scheduler")

BUILTIN = (NOVA_SCHEDULER, NOVA_CONDUCTOR, CINDER_SCHEDULER)
