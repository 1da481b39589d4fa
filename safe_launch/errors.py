"""Exit codes: the contract between safe_launch and whatever starts it.

This module holds the one table (sysexits-style) that every failure path ends
in.  The README quotes it; systemd units can name these codes in
``RestartPreventExitStatus=``.
"""

import enum

from safe_launch import events


class ExitCode(enum.IntEnum):
    OK = 0               # clean stop (SIGTERM or SIGINT after launch)
    TAMPERED = 1         # safe-launch audit verify: the trail is not intact
    USAGE = 64           # bad command line
    NOINPUT = 66         # safe-launch audit verify/show: FILE cannot be read
    UNAVAILABLE = 69     # the service's package is not installed or cannot be imported
    SOFTWARE = 70        # unexpected internal error
    OSERR = 71           # the OS refused (fork, resources)
    CANTCREAT = 73       # a required output (the audit log) cannot be created
    TEMPFAIL = 75        # a dependency is unreachable, or the service cannot come up now
    CONFIG = 78          # invalid configuration or a hardening policy violation


EXIT_TABLE = (
    (ExitCode.OK, "clean stop (SIGTERM or SIGINT after launch); a command of "
     "`safe-launch` that succeeded"),
    (ExitCode.TAMPERED,
     "`safe-launch audit verify`: the trail is not intact (the line names the first bad "
     "record)"),
    (ExitCode.USAGE, "bad command line (`safe-launch` too: argparse's 2 becomes 64)"),
    (ExitCode.NOINPUT, "`safe-launch audit verify` or `audit show`: FILE cannot be read"),
    (ExitCode.UNAVAILABLE,
     "the service's package (nova, cinder) is not installed or cannot be imported"),
    (ExitCode.SOFTWARE, "unexpected internal error"),
    (ExitCode.OSERR, "the OS refused (fork, resources)"),
    (ExitCode.CANTCREAT, "a required output (the audit log) cannot be created"),
    (ExitCode.TEMPFAIL,
     "a dependency is unreachable or the service cannot come up right now "
     "(database, message bus, crash loop): worth a restart"),
    (ExitCode.CONFIG, "invalid configuration or a hardening policy violation"),
)


# What a message says instead of a declared secret's value.  Worded so the
# masker's bare-word rule ("secret <word>") leaves it readable.
NOT_SHOWN = "(not shown: declared secret)"


class LaunchError(Exception):
    """A refusal or failure that ends the launch with ``code``.

    ``problems`` lists every individual error (each a short string naming the
    option or file and the rule); ``message`` summarises them; ``details``
    says, per problem, which file, group and option it applies to.
    """

    def __init__(self, code, message, problems=(), phase=None, details=()):
        super().__init__(message)
        self.code = ExitCode(code)
        self.message = message
        self.problems = tuple(problems) or (message,)
        self.phase = phase
        self.details = tuple(details)   # per problem: {"file"/"group"/"option": ...}


def config_error(problems):
    """LaunchError(78) listing every ``(text, where)`` problem."""
    texts = [text for text, _ in problems]
    return LaunchError(ExitCode.CONFIG, texts[0], texts,
                       details=[where for _, where in problems])


def table_markdown():
    """The exit-code table as the README prints it."""
    rows = ["| exit | name | when |", "|---|---|---|"]
    rows += ["| %d | %s | %s |" % (c.value, "EX_" + c.name if c >= ExitCode.USAGE else c.name,
                                   why)
             for c, why in EXIT_TABLE]
    return "\n".join(rows)


# Exception classes (by module prefix or qualified name) and what they mean
# for the operator: by cause, not by library (a bad URL is configuration
# whichever library parses it; an unreachable server is temporary).  Names,
# not imports: the launcher must not import the libraries that raise them
# before the concurrency backend is chosen.  A class matches before its
# bases, and within one class the first row matching wins.
_CLASSIFY = (
    ("oslo_config.", ExitCode.CONFIG),
    ("keystoneauth1.exceptions.auth_plugins.", ExitCode.CONFIG),
    ("oslo_service.backend.exceptions.", ExitCode.CONFIG),
    # make_url() cannot parse the URL; create_engine() knows no such dialect
    # or driver, or is given an argument the dialect refuses
    ("sqlalchemy.exc.NoSuchModuleError", ExitCode.CONFIG),
    ("sqlalchemy.exc.ArgumentError", ExitCode.CONFIG),
    # enginefacade: no [database] connection
    ("oslo_db.exception.CantStartEngineError", ExitCode.CONFIG),
    ("oslo_messaging.transport.InvalidTransportURL", ExitCode.CONFIG),
    # no installed driver is named by the transport URL's scheme
    ("oslo_messaging.transport.DriverLoadFailure", ExitCode.CONFIG),
    # fileConfig() refused [DEFAULT] log_config_append (what the file check
    # cannot judge without running it: a handler's args)
    ("oslo_log.log.LogConfigError", ExitCode.CONFIG),
    ("sqlalchemy.exc.OperationalError", ExitCode.TEMPFAIL),
    ("oslo_db.exception.DBConnectionError", ExitCode.TEMPFAIL),
    ("oslo_db.exception.", ExitCode.TEMPFAIL),
    ("oslo_messaging.", ExitCode.TEMPFAIL),
    ("kombu.exceptions.", ExitCode.TEMPFAIL),
    ("amqp.exceptions.", ExitCode.TEMPFAIL),
    ("builtins.ConnectionError", ExitCode.TEMPFAIL),
    ("builtins.TimeoutError", ExitCode.TEMPFAIL),
    ("builtins.ImportError", ExitCode.UNAVAILABLE),
    ("builtins.OSError", ExitCode.OSERR),
)


def classify(exc):
    """The exit code an unexpected exception ends in (70 when unknown)."""
    if isinstance(exc, LaunchError):
        return exc.code
    for cls in type(exc).__mro__:
        name = "%s.%s" % (cls.__module__, cls.__qualname__)
        for prefix, code in _CLASSIFY:
            if name == prefix or (prefix.endswith(".") and name.startswith(prefix)):
                return code
    return ExitCode.SOFTWARE


def describe(exc):
    """One line: ``ExcType: the message``, control characters escaped (not yet masked).

    The whole message, not its first line: a value quoted across lines is
    then one string the masker can recognise (it knows each secret's escaped
    form).  Not cut here: the emitter cuts the summary after masking, so a
    cut can never leave the unmasked prefix of a secret.
    """
    text = events.one_line(str(exc).strip())
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__
