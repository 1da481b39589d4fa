"""safe-launch: preflight ``check``, ``audit show`` and ``audit verify``.

Every option is spelled exactly (no abbreviations; an unknown one is named
with the closest known), ``--help`` works on every sub-command, options go
before or after positional arguments, and a usage error exits 64.  Output
to a reader that went away (``| head -1``) ends quietly.
"""

import json
import sys

from safe_launch.cmd import finish
from safe_launch.cmd import options
from safe_launch import events
from safe_launch import spec as specs

SERVICES = {s.binary: s for s in specs.BUILTIN}
CHECK_OPTIONS = ("--format", "--service")


def check(args):
    from safe_launch.launcher import Launch
    from safe_launch import validate

    collector = events.Collector()
    service = SERVICES[args.service]
    code = int(Launch(service, args.args, until="patching", sinks=[collector]).run())
    errors = [dict(phase=e.data.get("phase"), message=e.data.get("error"),
                   **{k: e.data[k] for k in ("option", "group", "file") if k in e.data})
              for e in collector.events if e.event == events.LAUNCH_FAILED]
    warnings = [e.data.get("warning") or e.data.get("error") for e in collector.events
                if e.event == events.CONFIG_WARNING]
    # Known-options data older than the installed libraries: check's finding only.
    stale = [validate.describe(p)[0] for p in validate.stale(service)]
    warnings += stale
    if args.format == "json":
        options.output(json.dumps({"ok": code == 0, "exit_code": code,
                                   "service": service.binary, "errors": errors,
                                   "warnings": warnings,
                                   "decisions": [{"event": e.event, "summary": e.summary,
                                                  "decision": e.data.get("decision")}
                                                 for e in collector.events
                                                 if e.event != events.LAUNCH_FAILED]},
                                  indent=2, sort_keys=True))
    else:
        for e in collector.events:
            options.output(("ERROR " if e.event == events.LAUNCH_FAILED else "") + e.summary)
        for warning in stale:
            options.output("validate: warning: " + warning)
        options.output("%s: %s (exit %d)" % (service.binary, "ok" if code == 0 else "refused",
                                             code))
    return code


def misspelled_check_options(tokens):
    """The service's arguments that are near-misses of check's own options.

    Every argument check does not know is the service's, so ``--formt json``
    would reach nova's option table, where it is merely unknown; named here
    it gets the suggestion it needs.  Only a name about as long as one of
    check's counts: the service's ``--log-date-format`` ends in "format"
    but is no misspelling of it (tests/functional/test_operator_cli.py holds every
    CLI option of nova's clear of this).
    """
    def near(token):
        name = token.partition("=")[0]
        same_size = [o for o in CHECK_OPTIONS if abs(len(o) - len(name)) <= 3]
        return name not in CHECK_OPTIONS and options.suggestion(name, same_size)
    return [t for t in tokens if t.startswith("--") and near(t)]


def parser():
    from safe_launch.cmd import audit_show
    from safe_launch.cmd import audit_verify
    from safe_launch import version

    top = options.Parser(
        prog="safe-launch", description="Preflight checks and audit tools for safe_launch.",
        epilog="Exit codes: the table in safe-launch(8) and the README; a usage error is 64.")
    top.add_argument("--version", action="version", version=version.versions_line())
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("check", help="run every launch phase up to creating the service",
                       description="Validate the command line and configuration exactly as "
                                   "the launch would, without starting the service; every "
                                   "argument check does not know is the service's.",
                       usage="safe-launch check [--format {text,json}] [--service SERVICE] "
                             "SERVICE-ARGUMENTS...")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--service", choices=sorted(SERVICES), default="nova-scheduler")
    p.set_defaults(func=check, parser=p)
    audit = sub.add_parser("audit", help="audit trail tools",
                           description="Show or verify an audit trail.")
    audit.set_defaults(parser=audit)
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    v = audit_sub.add_parser("verify", help="verify an audit file's hash chain, anchor "
                                            "(and HMACs): exit 0 intact, 1 not",
                             description=audit_verify.DESCRIPTION)
    audit_verify.add_arguments(v)
    v.set_defaults(func=audit_verify.run, parser=v)
    s = audit_sub.add_parser("show", help="one line per record, grouped by launch, and "
                                          "whether the chain verifies",
                             description=audit_show.DESCRIPTION)
    audit_show.add_arguments(s)
    s.set_defaults(func=audit_show.run, parser=s)
    return top


def parse_args(argv):
    top = parser()
    if argv[:1] == ["check"] and not {"-h", "--help"} & set(argv):
        # check's own options; everything else is the service's command line
        args, args.args = top.parse_known_args(argv)
        wrong = misspelled_check_options(args.args)
        if wrong:
            args.parser.unknown(wrong)
        return args
    return top.parse_args(argv)


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else list(argv))
        code = args.func(args)
    except SystemExit as exc:           # --help/--version 0, a usage error 64 (options.Parser)
        code = exc.code
    options.flush()
    finish(code, teardown=False)
