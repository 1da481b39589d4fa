"""cinder's hooks: cinder.common.config registers the global options (and
imports eventlet, through the ``cinder`` package, without patching); the
create step mirrors cinder/cmd/scheduler.py's ``main()`` after its parse.
``objects.register_all()`` waits for the create step: it imports
oslo.service, which would pick the backend before the patching phase does.
The options it registers are in cinder's known-options data, so the
validate phase checks them all the same."""


def load_options(spec):
    from oslo_config import cfg

    from cinder.common import config  # noqa: F401 (registers the global options)
    return cfg.CONF


def poison_eventlet():
    # cinder itself imports eventlet: only its monkey_patch() can be blocked.
    from cinder import monkey_patch
    monkey_patch.poison_eventlet()


def mark_patched():
    import threading

    import eventlet.patcher

    from cinder import monkey_patch
    monkey_patch.MONKEY_PATCHED = True
    if eventlet.patcher.is_monkey_patched("thread"):
        # What cinder's own patch() adds (bug 1863021): the original
        # current_thread must see the patched module's _active (private:
        # pinned in tests/unit/test_internals.py).
        import __original_module_threading as orig_threading
        orig_threading.current_thread.__globals__["_active"] = threading._active


def create(spec, conf):
    """objects, GMR defaults, logging, GMR and Service.create() (which calls rpc.init)."""
    import logging as python_logging

    from oslo_log import log as logging
    from oslo_reports import guru_meditation_report as gmr
    from oslo_reports import opts as gmr_opts

    from cinder import i18n
    i18n.enable_lazy()
    from cinder import objects
    from cinder import service
    from cinder import version

    from safe_launch.service import CreateDecision

    objects.register_all()
    gmr_opts.set_defaults(conf)
    logging.setup(conf, spec.project)
    python_logging.captureWarnings(True)
    gmr.TextGuruMeditation.setup_autorun(version, conf=conf)
    # The topic defaults to the binary name, as in the stock script.
    server = service.Service.create(binary=spec.binary)
    return server, CreateDecision(spec.binary, server.topic, server.host,
                                  server.manager_class_name)


def before_serve():
    """cinder's serve() launches directly."""
