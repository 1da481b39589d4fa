"""The admin CLI's argument parser: exact option names, a "did you mean", exit 64.

argparse accepts any unambiguous prefix of a long option by default
(``--form`` for ``--format``): in a tool whose point is refusing
abbreviations that is the wrong default, so every parser here has
``allow_abbrev=False``.  An unknown option is named with the closest
known one (difflib), and a usage error exits 64 (EX_USAGE, the project's
table) instead of argparse's 2.
"""

import argparse
import difflib
import os
import sys

from safe_launch.errors import ExitCode


def suggestion(token, known):
    """`` (did you mean --format?)`` for ``--formt``, or ``""``."""
    name = token.partition("=")[0]
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return " (did you mean %s?)" % close[0] if close else ""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser without abbreviations whose errors suggest and exit 64."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        self.option_names = set()       # filled by add_argument, --help included
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        self.option_names.update(a for a in args if a.startswith("-"))
        return super().add_argument(*args, **kwargs)

    def add_mutually_exclusive_group(self, **kwargs):
        group = super().add_mutually_exclusive_group(**kwargs)
        record = group.add_argument

        def add_argument(*args, **kw):
            self.option_names.update(a for a in args if a.startswith("-"))
            return record(*args, **kw)
        group.add_argument = add_argument
        return group

    def unknown(self, tokens):
        """Exit 64 naming each unknown token, with a suggestion for options."""
        self.error("unrecognized arguments: %s" % " ".join(
            t + (suggestion(t, self.option_names) if t.startswith("-") else "")
            for t in tokens))

    def parse_args(self, args=None, namespace=None):
        namespace, extra = self.parse_known_args(args, namespace)
        if extra:
            # The innermost sub-command's parser knows the options that apply.
            getattr(namespace, "parser", self).unknown(extra)
        return namespace

    def exit(self, status=0, message=None):
        if message:
            sys.stderr.write(message)
        sys.exit(ExitCode.USAGE if status else ExitCode.OK)


def output(line=""):
    """Print one line; a reader gone away (``| head -1``) ends the output, not the command."""
    try:
        sys.stdout.write(line + "\n")
    except BrokenPipeError:
        reader_gone()


def flush():
    """Flush stdout, quietly when its reader has gone away."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        reader_gone()


def reader_gone():
    """What is left of the output goes nowhere, and no traceback says it.

    The descriptor is pointed at /dev/null, so the interpreter's own flush
    at exit (which would report the broken pipe) succeeds; the command
    still ends with its own exit status.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
