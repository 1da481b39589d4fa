"""``safe-launch audit show FILE``: the audit trail for people.

One line per record (UTC time, seq, launch id, event, summary), grouped by
launch in the order the launches began, then one line saying whether the
chain verifies (the same check as ``audit verify``, which stays the proof:
its exit status says it, this command's does not).  ``--format json`` gives
the same records to machines.

Only what the trail holds is printed, and it was masked before it was
written; each field is escaped again (control characters), so a record
edited into the file cannot forge a line or drive the terminal.  Colour
only on a terminal, never with ``NO_COLOR`` set (https://no-color.org).
"""

import datetime
import fnmatch
import json
import os
import sys

from safe_launch import audit
from safe_launch.cmd import audit_verify
from safe_launch.cmd import options
from safe_launch.errors import ExitCode
from safe_launch import events

DESCRIPTION = ("Show an audit trail: one line per record, grouped by launch, and whether "
               "its chain verifies.")
FIELDS = ("ts", "seq", "launch_id", "event", "outcome", "summary")
_COLOURS = {"failure": "31", "success": "32"}       # red, green; others plain


def add_arguments(parser):
    audit_verify.add_arguments(parser)
    parser.add_argument("--launch", metavar="ID", action="append",
                        help="only this launch (its id or a unique start of it); repeatable")
    parser.add_argument("--since", metavar="TIME", type=timestamp,
                        help="only records at or after TIME (ISO 8601, UTC unless it names "
                             "a zone: 2026-12-02, 2026-12-02T18:00:00Z)")
    parser.add_argument("--event", metavar="NAME", action="append",
                        help="only this event (a glob: worker.*); repeatable")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def timestamp(text):
    """``--since`` as an aware UTC datetime (argparse names the option on a ValueError)."""
    when = datetime.datetime.fromisoformat(text.strip())
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when


def when(record):
    """The record's time, None when it has none that parses."""
    try:
        return timestamp(str(record.get("ts")))
    except ValueError:
        return None


def selected(records, args):
    """The ``records`` every filter given keeps (an unknown launch id keeps none)."""
    keep = list(records)
    if args.launch:
        ids = {str(r.get("launch_id")) for r in keep}
        wanted = {i for i in ids if any(i == w or i.startswith(w) for w in args.launch)}
        keep = [r for r in keep if str(r.get("launch_id")) in wanted]
    if args.since:
        keep = [r for r in keep if (when(r) is not None and when(r) >= args.since)]
    if args.event:
        keep = [r for r in keep
                if any(fnmatch.fnmatchcase(str(r.get("event")), e) for e in args.event)]
    return keep


def grouped(records):
    """``[(launch id, [records])]``, launches in the order their first record appears."""
    groups = {}
    for record in records:
        groups.setdefault(str(record.get("launch_id")), []).append(record)
    return list(groups.items())


def colour_wanted(stream, environ):
    return bool(stream.isatty()) and "NO_COLOR" not in environ and environ.get("TERM") != "dumb"


def text_line(record, colour):
    # Cut as the emitter cuts a summary: a record edited into the file is
    # not a megabyte on the operator's terminal.
    shown = [events.one_line(str(record.get(f, "")), events.MAX_SUMMARY) for f in FIELDS]
    ts, seq, launch, event, outcome, summary = shown
    line = "%s  %6s  %s  %-20s %s" % (ts, seq, launch, event, summary)
    code = _COLOURS.get(outcome)
    return "\033[%sm%s\033[0m" % (code, line) if colour and code else line


def run(args):
    try:
        data = audit.read_file(args.file)
    except OSError as exc:
        options.output("%s: cannot read %s: %s" % (args.file, exc.filename, exc.strerror))
        return ExitCode.NOINPUT
    code, verdict = audit_verify.check(args)
    groups = grouped(selected(audit.records(data), args))
    if args.format == "json":
        options.output(json.dumps({
            "file": args.file, "verified": code == ExitCode.OK, "verification": verdict,
            "launches": [{"launch_id": launch, "records": [
                {f: r.get(f) for f in FIELDS + ("data",)} for r in records]}
                for launch, records in groups]}, indent=2, sort_keys=True))
        return ExitCode.OK
    colour = colour_wanted(sys.stdout, os.environ)
    for launch, records in groups:
        options.output("launch %s: %d record(s)" % (events.one_line(launch, events.MAX_SUMMARY),
                                                    len(records)))
        for record in records:
            options.output("  " + text_line(record, colour))
    if not groups:
        options.output("no records match")
    verdict = ("chain verifies: " if code == ExitCode.OK else
               "chain does NOT verify (exit %d from audit verify): " % code) + verdict
    options.output("\033[1m%s\033[0m" % verdict if colour else verdict)
    return ExitCode.OK
