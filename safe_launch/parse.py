"""Parse phase: register the service's options, then parse argv and files once."""

import dataclasses
import importlib

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
    from oslo_config import cfg

    try:
        conf(argv, project=spec.project, prog=spec.binary,
             version=version_string(spec))
    except SystemExit as exc:          # argparse: --help/--version (0) or usage (2)
        if not exc.code:
            raise
        raise LaunchError(ExitCode.USAGE, "the command line was refused by oslo.config")
    except cfg.Error as exc:
        raise LaunchError(ExitCode.CONFIG, str(exc).strip())
    except (OSError, UnicodeDecodeError) as exc:
        raise LaunchError(ExitCode.CONFIG, "cannot read configuration: %s" % exc)
    return ParseDecision(tuple(conf.config_file or ()), tuple(conf.config_dir or ()))
