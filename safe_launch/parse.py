"""Parse phase: register the service's options, then parse argv and files once."""

import contextlib
import dataclasses
import importlib
import io

from safe_launch.errors import ExitCode, LaunchError
from safe_launch import opts


@dataclasses.dataclass(frozen=True)
class ParseDecision:
    config_files: tuple
    config_dirs: tuple

    def summary(self):
        files = ", ".join(self.config_files + self.config_dirs) or "no files"
        return "parse: configuration from %s" % files


def load_options(spec):
    """The service's global ConfigOpts, with what it registers before parsing.

    Imports ``<package>.conf`` (nova.conf registers every nova option and is
    safe before the backend is chosen), oslo.log's options and
    ``[safe_launch]``.  A missing package is exit 69.
    """
    try:
        conf = importlib.import_module(spec.package + ".conf").CONF
    except ImportError as exc:
        raise LaunchError(ExitCode.UNAVAILABLE,
                          "%s is not installed or cannot be imported (%s): "
                          "install it with pip install 'safe_launch[%s]'"
                          % (spec.package, exc, spec.extra))
    from oslo_log import log
    log.register_options(conf)
    if opts.GROUP not in conf:
        opts.register_opts(conf)
    return conf


def version_string(spec):
    try:
        return importlib.import_module(spec.package + ".version").version_string()
    except (ImportError, AttributeError):
        return None


def parse(spec, conf, argv):
    """``CONF(argv, project=..., prog=<binary>)`` as the stock script does.

    ``prog`` is the stock binary name, so the same default config files
    (``nova-scheduler.conf`` ...) are searched as for the stock script.
    """
    call_parser(conf, argv, project=spec.project, prog=spec.binary,
                version=version_string(spec))
    return ParseDecision(tuple(conf.config_file or ()), tuple(conf.config_dir or ()))


def call_parser(conf, argv, **kwargs):
    """Run ``conf(argv, **kwargs)``; every failure becomes one LaunchError.

    argparse prints its own complaint and exits (e.g. ``debug = maybe`` in a
    file: a CLI option's value is checked by argparse); that line is caught
    and becomes the message instead.
    """
    from oslo_config import cfg

    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            conf(argv, **kwargs)
    except SystemExit as exc:          # --help/--version (0), usage (2), CLI value (1)
        if not exc.code:
            raise
        lines = printed.getvalue().strip().splitlines() or ["exit %s" % exc.code]
        message = lines[-1].partition(": error: ")[2] or lines[-1]
        raise LaunchError(ExitCode.USAGE if exc.code == 2 else ExitCode.CONFIG, message)
    except cfg.Error as exc:
        raise LaunchError(ExitCode.CONFIG, str(exc).strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchError(ExitCode.CONFIG, "cannot read configuration: %s" % exc)
