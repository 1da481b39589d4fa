"""Create and serve phases, for the service a spec describes.

The project's own steps (what its stock script does) are its adapter's
(:mod:`safe_launch.adapters`); here they are wrapped so each worker reports
its readiness.  Import this module only after the patching phase: it loads
oslo.service's backend.
"""


from oslo_log import log as logging
from oslo_service import service as oslo_service

from safe_launch.errors import describe
from safe_launch import native
from safe_launch import recordtype
from safe_launch import supervise

LOG = logging.getLogger(__name__)


class CreateDecision(recordtype.Frozen):
    binary: str
    topic: str
    host: str
    manager: str

    def summary(self):
        return "create: %s service on host %s (topic %s, %s)" % (
            self.binary, self.host, self.topic, self.manager)


def create(spec, conf):
    """The spec's create step (its adapter's): the server and what was created."""
    from safe_launch import adapters
    name_binary(spec)
    return adapters.of(spec).create(spec, conf)


def name_binary(spec):
    """oslo.log's name for the program is ``spec.binary``, as the stock script's gives it.

    oslo.log names the program after the file of the outermost frame
    (``oslo_log.handlers._get_binary_name``): ``<log_dir>/<name>.log`` when
    only ``log_dir`` is set, the syslog ident and journald's
    SYSLOG_IDENTIFIER.  Stock nova's outermost frame is its console script
    (``/usr/bin/nova-scheduler``); the safe trampoline's is ``python -I -c``'s
    ``<string>``, which wrote ``<log_dir>/<string>.log``.  Called before the
    adapter's ``logging.setup`` on every path that creates the service.
    """
    from oslo_log import handlers
    handlers._get_binary_name = lambda: spec.binary


class ReportingService(oslo_service.ServiceBase):
    """Wraps the service so each worker (forked, or the one process) reports its readiness.

    ``ready`` is sent once ``start()`` has returned, i.e. once the worker's
    services row exists and its RPC server is running.  A failing ``start()``
    sends one masked line instead of a traceback and ends the worker with 1.
    """

    def __init__(self, inner, reports, debug=False):
        self.inner = inner
        self.reports = reports
        self.debug = debug
        self.linked = False

    @property
    def backdoor_port(self):
        return self.inner.backdoor_port

    @backdoor_port.setter
    def backdoor_port(self, port):
        self.inner.backdoor_port = port

    def start(self):
        # "starting" first, so the master watches this pid whatever fails next:
        # the two helper threads cannot start when the OS refuses a thread
        # (pids.max, RLIMIT_NPROC): such a worker died with a raw traceback
        # before saying anything, invisible to the crash-loop policy, and the
        # launch waited for start_timeout.
        self.reports.send("starting")
        done = native.module("threading").Event()
        try:
            if not self.linked:     # the eventlet backend restarts a worker in place
                self.reports.die_with_master()
                self.linked = True
            supervise.report_waiting(self.reports, native.module("threading").get_ident(),
                                     done)
            self.inner.start()
        except Exception as exc:
            if self.debug:
                LOG.exception("worker failed to start")
            self.reports.send("failed", describe(exc))
            raise SystemExit(1)
        finally:
            done.set()
        self.reports.send("ready")

    def stop(self, graceful=False):
        self.inner.stop()

    def wait(self):
        self.inner.wait()

    def reset(self):
        self.inner.reset()


def serve(spec, server, workers, conf, reports, before_launch=lambda: None):
    """The adapter's pre-serve step, ``before_launch()``, then launch: fork the
    workers, or serve in this process when ``workers`` is 1 (the project's serve()).

    The launcher leads its own process group first, before the backend's
    manager exists: see :func:`safe_launch.signals.own_process_group`.
    """
    from safe_launch import adapters
    from safe_launch import signals

    adapters.of(spec).before_serve()
    before_launch()
    signals.own_process_group()
    wrapped = ReportingService(server, reports, debug=conf.debug)
    return oslo_service.launch(conf, wrapped, workers=workers, restart_method="mutate",
                               **fork_only())


def fork_only():
    """The threading backend's workers are forked, never spawned.

    Workers inherit what the launcher set up before the fork: the readiness
    and die-with-master pipes (:mod:`safe_launch.supervise`), the masker,
    the audit file re-opened at fork, the hardened process state.  A spawned
    worker is a fresh interpreter that has none of them, so the start method
    is fixed here rather than left to oslo.service's default (fork where
    available, today).  The eventlet backend always forks and takes no such
    argument.
    """
    from oslo_service import backend
    if backend.get_backend_type() == backend.BackendType.THREADING:
        return {"start_method": "fork"}
    return {}


def wait(launcher):
    """Block until the service stops; the backend's exit status."""
    try:
        return launcher.wait()
    except SystemExit as exc:       # cotyledon's master ends with sys.exit()
        return exc.code
