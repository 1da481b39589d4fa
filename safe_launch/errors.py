"""Exit codes: the contract between safe_launch and whatever starts it.

This module holds the one table (sysexits-style) that every failure path ends
in.  The README quotes it; systemd units can name these codes in
``RestartPreventExitStatus=``.
"""

import enum


class ExitCode(enum.IntEnum):
    OK = 0               # clean stop (SIGTERM or SIGINT after launch)
    USAGE = 64           # bad command line
    UNAVAILABLE = 69     # the service's package is not installed or cannot be imported
    SOFTWARE = 70        # unexpected internal error
    OSERR = 71           # the OS refused (fork, resources)
    CANTCREAT = 73       # a required output (the audit log) cannot be created
    TEMPFAIL = 75        # a dependency is unreachable, or the service cannot come up now
    CONFIG = 78          # invalid configuration or a hardening policy violation


EXIT_TABLE = (
    (ExitCode.OK, "clean stop (SIGTERM or SIGINT after launch)"),
    (ExitCode.USAGE, "bad command line"),
    (ExitCode.UNAVAILABLE,
     "nova (or the service's package) is not installed or cannot be imported"),
    (ExitCode.SOFTWARE, "unexpected internal error"),
    (ExitCode.OSERR, "the OS refused (fork, resources)"),
    (ExitCode.CANTCREAT, "a required output (the audit log) cannot be created"),
    (ExitCode.TEMPFAIL,
     "a dependency is unreachable or the service cannot come up right now "
     "(database, message bus, crash loop): worth a restart"),
    (ExitCode.CONFIG, "invalid configuration or a hardening policy violation"),
)


class LaunchError(Exception):
    """A refusal or failure that ends the launch with ``code``.

    ``problems`` lists every individual error (each a short string naming the
    option or file and the rule); ``message`` summarises them.  Messages must
    already be free of secrets.
    """

    def __init__(self, code, message, problems=(), phase=None):
        super().__init__(message)
        self.code = ExitCode(code)
        self.message = message
        self.problems = tuple(problems) or (message,)
        self.phase = phase


def table_markdown():
    """The exit-code table as the README prints it."""
    rows = ["| exit | name | when |", "|---|---|---|"]
    rows += ["| %d | %s | %s |" % (c.value, "EX_" + c.name if c else "OK", why)
             for c, why in EXIT_TABLE]
    return "\n".join(rows)
