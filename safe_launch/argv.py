"""The argv guard: the command line checked before oslo.config sees it.

oslo.config hands argv to argparse with ``allow_abbrev=True``: ``--config-f X``
is taken for ``--config-file`` (and the default files are loaded too), a
repeated option silently keeps its last value, and values of CLI options are
checked one at a time.  :func:`guard` accepts only exact option names and
returns every problem at once, plus a canonical argv (``ArgvDecision.argv``)
that spells each option the way oslo.config registered it.

Accepted spellings of an option: its registered name (``--log-config-append``),
its declared deprecated names (``--log-config``, ``--log_config``), its short
name (``-d``), ``--no<name>`` for boolean options, and the same names with
``-`` and ``_`` swapped (``--log_file``).  The last form is not registered with
argparse, so the caller must hand ``ArgvDecision.argv`` to oslo.config, not
the raw argv.  Positional and sub-command options are not supported: the
guard refuses every positional argument.
"""

import dataclasses
import difflib
import re
import unicodedata

from oslo_config import cfg

from safe_launch.errors import NOT_SHOWN
from safe_launch import recordtype

# oslo.config's own options; the CLI opts the caller passes cannot replace them.
_BUILTIN = (
    ("--config-file", "config_file", "path"),
    ("--config-dir", "config_dir", "path"),
    ("-h", "help", "flag"),
    ("--help", "help", "flag"),
    ("--version", "version", "flag"),
)
_MULTI_BUILTIN = frozenset(("config_file", "config_dir"))
# Characters refused anywhere in argv: C0/C1 controls and DEL (Cc), lone
# surrogates (bytes undecodable in the locale, kept by surrogateescape),
# line/paragraph separators, and bidi overrides (what the audit trail shows
# would differ from what ran: CVE-2021-42574).
_BAD_CATEGORIES = frozenset(("Cc", "Cs", "Zl", "Zp"))
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# argparse takes a token like this as a value even though it starts with "-".
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


class ArgvDecision(recordtype.Frozen):
    """What the guard decided about one command line.

    ``options`` maps each option's key (its dest, ``group.dest`` for an option
    in a group) to the value given (a tuple for multi-valued options, a bool
    for flags), unmasked.  ``config_args`` lists the ``config_file`` and
    ``config_dir`` values in the order given, which is the order oslo.config
    reads them in.  ``argv`` is the canonical command line to parse.
    """

    ok: bool
    problems: tuple
    warnings: tuple = ()
    config_files: tuple = ()
    config_dirs: tuple = ()
    config_args: tuple = ()
    options: dict = dataclasses.field(default_factory=dict)
    argv: tuple = ()

    def summary(self):
        if not self.ok:
            return "argv: %d problem(s): %s" % (len(self.problems), "; ".join(self.problems))
        names = ", ".join(sorted(self.options)) or "no options"
        return "argv: accepted (%s)" % names


class _Spec(recordtype.Frozen):
    key: str
    canonical: str       # the option string written to the canonical argv
    action: str          # "value", "path", "true", "false" or "flag"
    opt: object = None   # the cfg.Opt, None for oslo.config's built-ins
    deprecated: bool = False
    swapped: bool = False  # "-"/"_" swapped: not registered with argparse

    @property
    def multi(self):
        return bool(getattr(self.opt, "multi", False)) or self.key in _MULTI_BUILTIN

    @property
    def takes_value(self):
        return self.action in ("value", "path")


def cli_opts_of(conf):
    """``(opt, group_name)`` for every CLI option registered on ``conf``.

    oslo.config has no public API listing CLI options; this uses the private
    ``ConfigOpts._all_cli_opts()`` (stable since oslo.config 1.2).
    ``--config-file`` and ``--config-dir`` are left out: :func:`guard` knows them.
    """
    return [(opt, group.name if group is not None else None)
            for opt, group in conf._all_cli_opts()
            if opt.dest not in _MULTI_BUILTIN]


def _table(cli_opts):
    """Option string -> _Spec, for every accepted spelling."""
    table = {s: _Spec(key, s if s != "-h" else "--help", action)
             for s, key, action in _BUILTIN}
    keys = {key for _, key, _ in _BUILTIN}
    for item in cli_opts:
        opt, group = item if isinstance(item, tuple) else (item, None)
        group = getattr(group, "name", group)
        group = None if group == "DEFAULT" else group
        key = opt.dest if group is None else "%s.%s" % (group, opt.dest)
        if opt.positional or isinstance(opt, cfg.SubCommandOpt) or key in keys:
            continue
        keys.add(key)
        prefix = group + "-" if group else ""
        forms = [("value", "")]
        if isinstance(opt, cfg.BoolOpt):
            forms = [("true", ""), ("false", "no")]
        for action, no in forms:
            canonical = "--" + prefix + no + opt.name
            table[canonical] = _Spec(key, canonical, action, opt)
            for d in opt.deprecated_opts:
                # oslo.config's own (private) helper, so the names match the
                # ones it registers with argparse exactly.
                old = opt._get_deprecated_cli_name(d.name, d.group, prefix=no)
                if old:
                    table["--" + old] = _Spec(key, canonical, action, opt, deprecated=True)
        if opt.short:
            table["-" + opt.short] = _Spec(key, "--" + prefix + opt.name, forms[0][0], opt)
    for string, spec in list(table.items()):
        alias = _swap(string)
        if alias != string and alias not in table:
            table[alias] = dataclasses.replace(spec, swapped=True)
    return table


def _swap(option_string):
    """``--log_file`` <-> ``--log-file`` (short options are left alone)."""
    if not option_string.startswith("--"):
        return option_string
    body = option_string[2:]
    return "--" + (body.replace("_", "-") if "_" in body else body.replace("-", "_"))


def show(token, limit=60):
    """A token as it may appear in a problem: escaped and bounded.

    The value of a long ``--name=value`` is bounded on its own, from its own
    start: a cut at an offset the name sets would leave a prefix of a secret
    value that the masker (which knows each secret's own cut form) cannot
    recognise.
    """
    shown = token.encode("unicode_escape", "backslashreplace").decode("ascii")
    name, eq, value = token.partition("=")
    if len(shown) > limit and eq and token.startswith("-"):
        return show(name, limit) + "=" + show(value, limit)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _bad_char(token):
    for ch in token:
        if unicodedata.category(ch) in _BAD_CATEGORIES or ch in _BIDI:
            return ch
    return None


def _is_value(token):
    """Whether argparse would consume ``token`` as an option's value."""
    return not token.startswith("-") or token == "-" or bool(_NEGATIVE_NUMBER.match(token))


def _unknown(name, table):
    """The problem for an unknown option string (with a hint), and its meaning.

    The meaning is the spec argparse would have taken the string for: the
    one option whose registered name it is a prefix of, else None.
    """
    if name.startswith("--") and len(name) > 2:
        taken = {spec.canonical: spec for s, spec in table.items()
                 if not spec.swapped and s.startswith(name)}
        if len(taken) == 1:
            [(canonical, spec)] = taken.items()
            return ("%s: abbreviations are not accepted; did you mean %s?"
                    % (show(name), canonical)), spec
        norm = name.replace("_", "-")
        prefixed = sorted({spec.canonical for s, spec in table.items()
                           if s.replace("_", "-").startswith(norm)})
        if prefixed:
            return ("%s: abbreviations are not accepted (matches %s)"
                    % (show(name), ", ".join(prefixed[:5]))), None
    close = difflib.get_close_matches(name, sorted(table), n=1, cutoff=0.75)
    hint = "; did you mean %s?" % table[close[0]].canonical if close else ""
    return "%s: unknown option%s" % (show(name), hint), None


def _check_value(spec, value):
    """A problem with ``value`` for ``spec``, or None."""
    if value == "":
        return "%s: empty value" % spec.canonical
    if value == "--":       # argparse drops a "--" value even in the --opt=-- form
        return "%s: '--' is not a value" % spec.canonical
    if spec.action == "path":
        return None
    try:
        spec.opt.type(value)
    except Exception as exc:  # a type is third-party code: any failure is a bad value
        if spec.opt.secret:     # the type's message may quote the value
            return "%s: invalid value %s" % (spec.canonical, NOT_SHOWN)
        return "%s: invalid value %r: %s" % (spec.canonical, show(value), show(str(exc), 120))
    return None


def is_denied(key, denied):
    """Whether ``[safe_launch] denied_cli_options`` (``denied``) names option ``key``.

    ``key`` is the option's dest, ``group.dest`` in a group; a denied name
    matches either form, ``-`` and ``_`` alike.
    """
    names = {d.replace("-", "_") for d in denied}
    return key in names or key.rpartition(".")[2] in names


def guard(argv, cli_opts, denied=(), max_args=256, max_bytes=65536):
    """Check ``argv`` (without argv[0]) against ``cli_opts``; never raises.

    ``cli_opts``: ``cfg.Opt`` objects or ``(opt, group)`` pairs, as
    :func:`cli_opts_of` returns them; oslo.config's built-ins are known here.
    ``denied``: option keys (dest names, ``-`` or ``_``) refused outright.
    When ok, hand ``decision.argv`` (canonical spellings) to oslo.config.
    """
    argv = list(argv)
    size = sum(len(t.encode("utf-8", "surrogatepass")) + 1 for t in argv)
    if len(argv) > max_args or size > max_bytes:
        return ArgvDecision(False, ("argv: %d arguments, %d bytes: more than the limit of %d "
                                    "arguments or %d bytes" % (len(argv), size, max_args,
                                                               max_bytes),))
    table = _table(cli_opts)
    problems, warnings, canonical, config_args = [], [], [], []
    given = {}                # key -> (_Spec of the first use, [(option string, value)])
    for index, token in enumerate(argv, 1):
        ch = _bad_char(token)
        if ch is not None:
            problems.append("argument %d %s: character U+%04X not accepted (control, "
                            "undecodable byte or bidi override)" % (index, show(token), ord(ch)))
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            problems += ["%s: positional arguments are not accepted" % show(t or "''")
                         for t in argv[i - 1:]]
            break
        if _is_value(token):
            problems.append("%s: positional arguments are not accepted" % show(token or "''"))
            continue
        name, eq, inline = token.partition("=")
        spec = table.get(name)
        if spec is None:
            problem, meant = _unknown(name, table)
            problems.append(problem)
            if meant is not None and meant.takes_value and not eq and i < len(argv) \
                    and _is_value(argv[i]):
                i += 1        # its value: not also reported as a positional
            continue
        if spec.deprecated:
            warnings.append("%s is deprecated; use %s" % (name, spec.canonical))
        if not spec.takes_value:
            if eq:
                problems.append("%s: takes no value" % show(token))
                continue
            value = spec.action != "false"
            canonical.append(spec.canonical)
        else:
            if eq:
                value = inline
            elif i < len(argv) and _is_value(argv[i]):
                value = argv[i]
                i += 1
            else:
                problems.append("%s: missing value%s" % (name, "" if i == len(argv) else (
                    " (a value starting with '-' must be given as %s=VALUE)" % spec.canonical)))
                continue
            problem = _check_value(spec, value)
            if problem:
                problems.append(problem)
                continue
            canonical.append("%s=%s" % (spec.canonical, value))
            if spec.key in _MULTI_BUILTIN:
                config_args.append((spec.key, value))
        given.setdefault(spec.key, (spec, []))[1].append((name, value))
    options = {}
    for key, (spec, uses) in given.items():
        if is_denied(key, denied):
            problems.append("%s: denied by [safe_launch] denied_cli_options" % spec.canonical)
        if len(uses) > 1 and not spec.multi:
            problems.append("%s: given %d times (%s); a single-valued option may be given once"
                            % (spec.canonical, len(uses), ", ".join(n for n, _ in uses)))
        values = tuple(v for _, v in uses)
        options[key] = values if spec.multi else values[-1]
    return ArgvDecision(
        ok=not problems, problems=tuple(problems), warnings=tuple(warnings),
        config_files=tuple(v for k, v in config_args if k == "config_file"),
        config_dirs=tuple(v for k, v in config_args if k == "config_dir"),
        config_args=tuple(config_args), options=options, argv=tuple(canonical))
