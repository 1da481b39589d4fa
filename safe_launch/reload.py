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
from safe_launch import recordtype


class ReloadDecision(recordtype.Frozen):
    ok: bool
    problems: tuple = ()
    applied: tuple = ()       # "[group] option" changed and mutable: the reload applies them
    immutable: tuple = ()     # changed but immutable: only a restart applies them
    # The files accepted and checked: the service's own re-read is served from them.
    records: tuple = dataclasses.field(default=(), repr=False, compare=False)

    def summary(self):
        if self.ok:
            changes = "".join((
                "; applied: %s" % ", ".join(self.applied) if self.applied else "",
                "; changed but immutable, not applied until a restart: %s"
                % ", ".join(self.immutable) if self.immutable else ""))
            return "reload: configuration checked, passing the reload to the service%s" % (
                changes or "; no option changed")
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
        return
    if "default" in info:       # a set_default() (the spec's audit_log): kept too
        conf.set_default(info["opt"].dest, info["default"], group=group)


def check(conf, guard, spec, register=None, overridden=None):
    """Accept the files, parse the candidate from them, apply the validate phase's rule.

    The files get the running configuration's policy before the parse (the
    candidate's own, after it, in validate.check).  ``register(records)`` is
    handed the accepted files before anything can quote them (the masker).
    ``overridden``: ``{(group, option): value}`` the launcher itself set on the
    live configuration, with the value the configuration had asked for.
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
        if not problems:
            problems = trail_problems(conf, candidate, records, spec)
        if not problems:
            applied, immutable = changes(conf, candidate, overridden or {})
            if immutable and live.reload_immutable_changes == "refuse":
                problems = tuple("%s: changed, but immutable: only a restart applies it "
                                 "([safe_launch] reload_immutable_changes = refuse)" % name
                                 for name in immutable)
    except LaunchError as exc:
        problems = exc.problems
    except Exception as exc:        # never let a check take the master down
        problems = (describe(exc),)
    if problems:
        return ReloadDecision(False, tuple(problems))
    return ReloadDecision(True, (), applied, immutable, tuple(records))


def trail_problems(live, candidate, records, spec):
    """A changed audit trail location (or key) judged as the next launch will open it.

    The change applies only at a restart, which would then refuse to start
    (73, 78): refused now, while the running service still has its trail.
    """
    from safe_launch import trail
    wanted = trail.settings(records, os.environ, spec, candidate)
    if wanted == trail.settings(records, os.environ, spec, live):
        return ()
    try:
        trail.preflight(wanted)
    except LaunchError as exc:
        return exc.problems
    return ()


def changes(live, candidate, overridden):
    """``(mutable, immutable)``: "[group] option" of every option whose value differs.

    Values are compared, never shown (a secret's change is named, not quoted).
    oslo.config's mutate_config_files applies only options declared mutable.
    An option the launcher overrode (the bounded worker count) is compared
    with what the configuration had asked for.
    """
    from safe_launch import validate
    mutable, immutable = [], []
    for group, opt in validate.registered_opts(candidate):
        if opt.dest in ("config_file", "config_dir"):
            continue
        name = None if group == "DEFAULT" else group
        try:
            before = overridden[(group, opt.dest)] if (group, opt.dest) in overridden else \
                (live[name][opt.dest] if name else live[opt.dest])
            after = candidate[name][opt.dest] if name else candidate[opt.dest]
        except Exception:       # unreadable on one side: validate reported the candidate
            continue
        if before != after:
            (mutable if opt.mutable else immutable).append("[%s] %s" % (group, opt.dest))
    return tuple(sorted(mutable)), tuple(sorted(immutable))
