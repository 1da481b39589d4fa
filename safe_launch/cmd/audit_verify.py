"""``safe-launch audit verify FILE [--key-file K]``: check an audit file.

Prints one line.  Exit status: 0 the chain (and, with a key, every MAC) is
intact; 1 it is not: the line names the first bad sequence number; 64 bad
usage; 66 the file cannot be read; 78 the key file is refused (see
:func:`safe_launch.audit.load_key`).  A torn last line (a crash mid-write) is
reported as recovered, not as tampering; truncation of the last records
cannot be detected from the file alone.
"""

import argparse
import os
import sys

from safe_launch import audit
from safe_launch.errors import ExitCode
from safe_launch.errors import LaunchError


def main(argv):
    parser = argparse.ArgumentParser(prog="safe-launch audit verify",
                                     description="Verify an audit file's hash chain and MACs.")
    parser.add_argument("file")
    parser.add_argument("--key-file", help="HMAC key file ([safe_launch] audit_key_file)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:           # --help: 0, usage errors: 64
        return ExitCode.USAGE if exc.code else ExitCode.OK
    try:
        key = audit.load_key(args.key_file) if args.key_file else None
        result = audit.verify(args.file, key)
    except LaunchError as exc:
        print("%s: %s" % (args.file, exc.message))
        return exc.code
    except OSError as exc:
        print("%s: cannot read: %s" % (args.file, exc.strerror))
        return os.EX_NOINPUT
    recovered = ", %d torn fragment(s) recovered" % result.recovered if result.recovered else ""
    if result.ok:
        print("%s: OK, %d records%s%s" % (args.file, result.records,
                                          ", MACs verified" if key else "", recovered))
        return 0
    print("%s: FAILED at seq %d: %s (%d records verified before it)"
          % (args.file, result.first_bad_seq, result.reason, result.records))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
