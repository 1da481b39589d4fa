"""``safe-launch audit verify FILE [--key-file K] [--anchor A | --no-anchor]``.

Prints one line.  Exit status: 0 the chain (and, with a key, every MAC) is
intact and the file ends no earlier than its anchor (``FILE.anchor`` unless
``--anchor`` names another copy); 1 it is not: the line names the first bad
sequence number; 64 bad usage; 66 the file cannot be read; 78 the key file
is refused (see :func:`safe_launch.audit.load_key`).  A torn last line (a
crash mid-write) is reported as recovered, not as tampering; so is a record
written after the anchor's (a crash before the anchor was updated).
``--no-anchor`` checks the chain alone, which cannot show a truncated tail.
"""

import sys

from safe_launch import audit
from safe_launch.cmd import options
from safe_launch.errors import ExitCode
from safe_launch.errors import LaunchError

DESCRIPTION = "Verify an audit file's hash chain, MACs and anchor."


def add_arguments(parser):
    """FILE and the key/anchor options (shared with ``audit show``)."""
    parser.add_argument("file", metavar="FILE", help="the audit trail ([safe_launch] audit_log)")
    parser.add_argument("--key-file", help="HMAC key file ([safe_launch] audit_key_file)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--anchor", help="the anchor to check the tail against "
                                        "(default: FILE.anchor)")
    where.add_argument("--no-anchor", action="store_true",
                       help="check the chain alone: a truncated tail goes unnoticed")


def check(args):
    """``(exit code, the one line saying it)`` for the trail ``args`` name."""
    try:
        key = audit.load_key(args.key_file) if args.key_file else None
        anchor = False if args.no_anchor else args.anchor or True
        result = audit.verify(args.file, key, anchor)
    except LaunchError as exc:
        return exc.code, "%s: %s" % (args.file, exc.message)
    except OSError as exc:
        return ExitCode.NOINPUT, "%s: cannot read %s: %s" % (
            args.file, exc.filename, exc.strerror)
    if not result.ok:
        where = " at seq %d" % result.first_bad_seq if result.first_bad_seq else ""
        return ExitCode.TAMPERED, ("%s: FAILED%s: %s (%d records verified before it)"
                                   % (args.file, where, result.reason, result.records))
    notes = [("%d records" % result.records)]
    notes += ["MACs verified"] if key else []
    notes += ["tail unchecked (--no-anchor)"] if args.no_anchor else [
        "%d after the anchor's (written before a crash could update it)" % result.unanchored
        if result.unanchored else "anchored"]
    notes += ["%d torn fragment(s) recovered" % result.recovered] if result.recovered else []
    return ExitCode.OK, "%s: OK, %s" % (args.file, ", ".join(notes))


def run(args):
    code, line = check(args)
    options.output(line)
    return code


def main(argv):
    """The command on its own (``python -m safe_launch.cmd.audit_verify``): its exit code."""
    parser = options.Parser(prog="safe-launch audit verify", description=DESCRIPTION)
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except SystemExit as exc:           # --help: 0, usage errors: 64
        return exc.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
