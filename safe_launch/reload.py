"""Reload: check a changed configuration before the running service sees it.

On SIGHUP the launcher lists the files the command line selects and accepts
each under the running file policy (type rules, where symlinks lead,
ownership and mode) before anything reads them: a FIFO swapped in is
refused at once instead of blocking the master in open().  Only then is the
command line parsed again, from the accepted bytes, into a separate
ConfigOpts (the live one is never touched), and given the launch's
validation; only when that is clean may the backend reload.  Otherwise the
reload is refused and the service keeps serving on the old configuration:
stock nova would mutate the live config first, and an invalid CLI option
value in a file deadlocks its master.
"""

import dataclasses
import os

from safe_launch.errors import LaunchError, describe
from safe_launch import parse


@dataclasses.dataclass(frozen=True)
class ReloadDecision:
    ok: bool
    problems: tuple = ()
    # The files accepted and checked: the service's own re-read is served from them.
    records: tuple = dataclasses.field(default=(), repr=False, compare=False)

    def summary(self):
        if self.ok:
            return "reload: configuration checked, passing the reload to the service"
        return "reload refused, still serving the old configuration: %s" % "; ".join(
            self.problems)


def candidate_conf(conf, argv, spec, records, version=None):
    """A fresh ConfigOpts with every option ``conf`` has, parsed from ``argv``.

    ``records``: the accepted files (parse.accept_files), which the parse reads.
    """
    from oslo_config import cfg

    fresh = cfg.ConfigOpts()
    # oslo.config has no public way to copy registrations: _opts/_groups
    # hold {'opt': Opt, 'cli': bool} per option (oslo.config 10.x).
    for info in conf._opts.values():
        _register(fresh, info, None)
    for name, group in conf._groups.items():
        fresh.register_group(cfg.OptGroup(name, title=group.title, help=group.help))
        for info in group._opts.values():
            _register(fresh, info, name)
    parse.call_parser(fresh, argv, records, project=spec.project, prog=spec.binary, version=version,
                      default_config_files=conf.default_config_files,
                      default_config_dirs=conf.default_config_dirs)
    return fresh


def _register(conf, info, group):
    from oslo_config import cfg
    try:
        if info["cli"]:
            conf.register_cli_opt(info["opt"], group=group)
        else:
            conf.register_opt(info["opt"], group=group)
    except cfg.DuplicateOptError:      # oslo.config's own (config_file, config_dir ...)
        pass


def check(conf, guard, spec, register=None):
    """Accept the files, parse the candidate from them, apply the validate phase's rule.

    The files get the running configuration's policy before the parse (the
    candidate's own, after it, in validate.check).  ``register(records)`` is
    handed the accepted files before anything can quote them (the masker).
    """
    from safe_launch import validate
    records = None
    try:
        live = conf.safe_launch
        records = parse.accept_files(guard, spec, os.environ, live.file_policy,
                                     live.service_user)
        if register is not None:
            register(records)
        problems = [text for text, _ in parse.problems_before(records, os.environ)]
        if not problems:
            candidate = candidate_conf(conf, list(guard.argv), spec, records)
            problems = validate.check(candidate, guard, spec, os.environ,
                                      checked=records).errors
    except LaunchError as exc:
        problems = exc.problems
    except Exception as exc:        # never let a check take the master down
        problems = (describe(exc),)
    return ReloadDecision(not problems, tuple(problems), tuple(records or ()))
