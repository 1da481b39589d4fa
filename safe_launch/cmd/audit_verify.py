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

import argparse
import os
import sys

from safe_launch import audit
from safe_launch.errors import ExitCode
from safe_launch.errors import LaunchError


def main(argv):
    parser = argparse.ArgumentParser(prog="safe-launch audit verify",
                                     description="Verify an audit file's hash chain, MACs "
                                                 "and anchor.")
    parser.add_argument("file")
    parser.add_argument("--key-file", help="HMAC key file ([safe_launch] audit_key_file)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--anchor", help="the anchor to check the tail against "
                                        "(default: FILE.anchor)")
    where.add_argument("--no-anchor", action="store_true",
                       help="check the chain alone: a truncated tail goes unnoticed")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:           # --help: 0, usage errors: 64
        return ExitCode.USAGE if exc.code else ExitCode.OK
    try:
        key = audit.load_key(args.key_file) if args.key_file else None
        anchor = False if args.no_anchor else args.anchor or True
        result = audit.verify(args.file, key, anchor)
    except LaunchError as exc:
        print("%s: %s" % (args.file, exc.message))
        return exc.code
    except OSError as exc:
        print("%s: cannot read %s: %s" % (args.file, exc.filename, exc.strerror))
        return os.EX_NOINPUT
    if not result.ok:
        where = " at seq %d" % result.first_bad_seq if result.first_bad_seq else ""
        print("%s: FAILED%s: %s (%d records verified before it)"
              % (args.file, where, result.reason, result.records))
        return 1
    notes = [("%d records" % result.records)]
    notes += ["MACs verified"] if key else []
    notes += ["tail unchecked (--no-anchor)"] if args.no_anchor else [
        "%d after the anchor's (written before a crash could update it)" % result.unanchored
        if result.unanchored else "anchored"]
    notes += ["%d torn fragment(s) recovered" % result.recovered] if result.recovered else []
    print("%s: OK, %s" % (args.file, ", ".join(notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
