"""safe-launch: preflight ``check`` and ``audit verify``."""

import argparse
import json
import sys

from safe_launch.cmd import finish
from safe_launch.errors import ExitCode
from safe_launch import events
from safe_launch import spec as specs

SERVICES = {s.binary: s for s in specs.BUILTIN}


class Collector:
    """Keeps every event of a check run (the check writes no audit trail)."""

    def __init__(self):
        self.events = []

    def handle(self, event):
        self.events.append(event)


def check(args):
    from safe_launch.launcher import Launch

    collector = Collector()
    service = SERVICES[args.service]
    code = int(Launch(service, args.args, until="patching", sinks=[collector]).run())
    errors = [dict(phase=e.data.get("phase"), message=e.data.get("error"),
                   **{k: e.data[k] for k in ("option", "group", "file") if k in e.data})
              for e in collector.events if e.event == events.LAUNCH_FAILED]
    warnings = [e.data.get("warning") or e.data.get("error") for e in collector.events
                if e.event == events.CONFIG_WARNING]
    if args.format == "json":
        print(json.dumps({"ok": code == 0, "exit_code": code, "service": service.binary,
                          "errors": errors, "warnings": warnings,
                          "decisions": [{"event": e.event, "summary": e.summary,
                                         "decision": e.data.get("decision")}
                                        for e in collector.events
                                        if e.event != events.LAUNCH_FAILED]},
                         indent=2, sort_keys=True))
    else:
        for e in collector.events:
            print(("ERROR " if e.event == events.LAUNCH_FAILED else "") + e.summary)
        print("%s: %s (exit %d)" % (service.binary, "ok" if code == 0 else "refused", code))
    return code


def audit_verify(args):
    from safe_launch.cmd import audit_verify
    return audit_verify.main(args.args)


def parser():
    top = argparse.ArgumentParser(
        prog="safe-launch", description="Preflight checks and audit tools for safe_launch.")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="run every launch phase up to creating the service",
                       description="Validate the command line and configuration exactly as "
                                   "the launch would, without starting the service; every "
                                   "argument check does not know is the service's.")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--service", choices=sorted(SERVICES), default="nova-scheduler")
    p.set_defaults(func=check)
    audit = sub.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    v = audit_sub.add_parser("verify", help="verify an audit file's hash chain, anchor (and HMACs)",
                             add_help=False)
    v.add_argument("args", nargs=argparse.REMAINDER)
    v.set_defaults(func=audit_verify)
    return top


def parse_args(argv):
    if argv[:1] == ["check"] and not {"-h", "--help"} & set(argv):
        # check's own options; everything else is the service's command line
        args, args.args = parser().parse_known_args(argv)
        return args
    return parser().parse_args(argv)


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as exc:           # argparse: --help 0, a usage error 64 (not 2)
        finish(ExitCode.USAGE if exc.code else ExitCode.OK)
    finish(args.func(args))
