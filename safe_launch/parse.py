"""Parse phase: register the service's options, accept the files, then parse once.

The launch, a reload check and ``safe-launch check`` list the files the
command line selects and accept each (:func:`accept_files`) before anything
reads them, refuse on :func:`problems_before`, and :func:`call_parser` makes
oslo.config parse the accepted bytes, never the paths.
"""

import contextlib
import importlib
import io

from safe_launch.errors import ExitCode, LaunchError
from safe_launch import opts
from safe_launch import recordtype


class ParseDecision(recordtype.Frozen):
    config_files: tuple
    config_dirs: tuple

    def summary(self):
        files = ", ".join(self.config_files + self.config_dirs) or "no files"
        return "parse: configuration from %s" % files


def load_options(spec):
    """The service's global ConfigOpts, with what it registers before parsing.

    The spec's adapter registers the project's options (safe before the
    backend is chosen); then oslo.log's options and ``[safe_launch]``, whose
    audit-log default is the spec's.  A missing package is exit 69.
    """
    from safe_launch import adapters
    try:
        conf = adapters.of(spec).load_options(spec)
    except ImportError as exc:
        raise LaunchError(ExitCode.UNAVAILABLE,
                          "%s is not installed or cannot be imported (%s): "
                          "install it with pip install 'safe_launch[%s]'"
                          % (spec.package, exc, spec.extra))
    from oslo_log import log
    log.register_options(conf)
    if opts.GROUP not in conf:
        opts.register_opts(conf)
    conf.set_default("audit_log", spec.audit_log, group=opts.GROUP)
    return conf


def version_string(spec):
    """What ``--version`` prints: the service's version, then safe_launch's."""
    from safe_launch import version
    try:
        theirs = importlib.import_module(spec.package + ".version").version_string()
    except (ImportError, AttributeError):
        return "safe_launch %s" % version.version_string()
    return "%s (safe_launch %s)" % (theirs, version.version_string())


def accept_files(guard, spec, environ, policy=None, service_user=None):
    """The records of the files the command line selects, in the parse's order.

    ``policy`` None (the launch: the policy is in the files): the type rules
    and where symlinks lead; a reload passes the running policy, applied
    with the symlink rule whatever it is.
    """
    from safe_launch import configfiles
    return [configfiles.accept(path, kind, policy, guard, environ, service_user,
                               links=True, config_dirs=spec.config_dirs)
            for path, kind in configfiles.files_to_check(guard, spec.project, spec.binary,
                                                         environ)]


def problems_before(records, environ):
    """``[(text, where)]``: why the parse may not read ``records``.

    Every file problem, and ``config_source``, which oslo.config would
    fetch during the parse.
    """
    from safe_launch import configfiles
    from safe_launch import validate
    return configfiles.problems_of(records) + [
        validate.describe(p) for p in validate.config_source_check(records, environ).errors]


def phase(spec, conf, argv, records, environ):
    """The parse phase: the files' pre-parse problems (all at once), then one parse
    of their bytes."""
    from safe_launch.errors import config_error
    problems = problems_before(records, environ)
    if problems:
        raise config_error(problems)
    return parse(spec, conf, argv, records)


def parse(spec, conf, argv, records):
    """``CONF(argv, project=..., prog=<binary>)`` as the stock script does.

    ``prog`` is the stock binary name, so the same default config files
    (``<binary>.conf`` ...) are searched as for the stock script.
    ``records``: the accepted files (:func:`accept_files`), which the parse
    reads.
    """
    if "--help" in argv:
        hide_refused(conf)
    call_parser(conf, argv, records, project=spec.project, prog=spec.binary,
                version=version_string(spec))
    return ParseDecision(tuple(conf.config_file or ()), tuple(conf.config_dir or ()))


def hide_refused(conf):
    """``--help`` lists only what the guard accepts: the denied CLI options go.

    oslo.config prints the help from its registered CLI options, so those
    ``[safe_launch] denied_cli_options`` names (``--shell_completion``) are
    unregistered before the parse, which ends once the help is printed.
    """
    from safe_launch import argv as guard
    denied = conf.safe_launch.denied_cli_options
    for opt, group in guard.cli_opts_of(conf):
        key = opt.dest if group in (None, "DEFAULT") else "%s.%s" % (group, opt.dest)
        if guard.is_denied(key, denied):
            conf.unregister_opt(opt, group)


def call_parser(conf, argv, records, **kwargs):
    """Run ``conf(argv, **kwargs)`` on ``records``; every failure becomes one LaunchError.

    oslo.config reads the files from ``records`` (configfiles.serving): a
    file without one is refused, a parse error names the file and line,
    never the line's text.  argparse prints its own complaint and exits
    (e.g. ``debug = maybe`` in a file: a CLI option's value is checked by
    argparse); that line is caught and becomes the message instead.
    """
    from oslo_config import cfg

    from safe_launch import configfiles

    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed), configfiles.serving(records):
            conf(argv, **kwargs)
    except SystemExit as exc:          # --help/--version (0), usage (2), CLI value (1)
        if not exc.code:
            raise
        lines = printed.getvalue().strip().splitlines() or ["exit %s" % exc.code]
        message = lines[-1].partition(": error: ")[2] or lines[-1]
        raise LaunchError(ExitCode.USAGE if exc.code == 2 else ExitCode.CONFIG, message)
    except configfiles.FileRefused as exc:
        raise LaunchError(ExitCode.CONFIG, str(exc), details=[{"file": exc.path}])
    except cfg.Error as exc:
        raise LaunchError(ExitCode.CONFIG, str(exc).strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchError(ExitCode.CONFIG, "cannot read configuration: %s" % exc)
