"""nova's hooks: nova.conf registers every option; the create step mirrors
nova/cmd/scheduler.py's (and conductor.py's) ``main()`` step by step, without
importing ``nova.cmd``, which patches and parses the importer's sys.argv at
import time."""


def load_options(spec):
    # nova.conf registers every nova option and is safe before the backend is chosen.
    from nova import conf
    return conf.CONF


def poison_eventlet():
    from nova import monkey_patch
    monkey_patch.poison_eventlet()      # blocks ``import eventlet`` for the process's life


def mark_patched():
    from nova import monkey_patch
    monkey_patch.MONKEY_PATCHED = True


def create(spec, conf):
    """nova's parse_args() tail, logging, objects, GMR and Service.create()."""
    from oslo_log import log as logging
    from oslo_reports import guru_meditation_report as gmr
    from oslo_reports import opts as gmr_opts

    from nova import config
    from nova.db.api import api as api_db_api
    from nova.db.main import api as main_db_api
    from nova import objects
    from nova import rpc
    from nova import service
    from nova import version

    from safe_launch.service import CreateDecision

    # nova calls set_lib_defaults() before the parse; it only changes option
    # defaults, which oslo.config reads lazily, so the effect is the same.
    config.set_lib_defaults()
    rpc.init(conf)
    main_db_api.configure(conf)
    api_db_api.configure(conf)
    logging.setup(conf, spec.project)
    objects.register_all()
    gmr_opts.set_defaults(conf)
    objects.Service.enable_min_version_cache()
    gmr.TextGuruMeditation.setup_autorun(version, conf=conf)
    server = service.Service.create(binary=spec.binary, topic=spec.topic)
    return server, CreateDecision(spec.binary, server.topic, server.host,
                                  server.manager_class_name)


def before_serve():
    from nova import thread_pool_factory
    thread_pool_factory.reset_all_executors()
