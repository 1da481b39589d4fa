"""Validation after the parse: every value, every key, in one pass.

oslo.config checks a value only when it is first read (``[scheduler] workers
= abc`` fails after database access, one error at a time) and ignores keys no
option matches.  :func:`eager_check` reads every option given a value now and
collects every error; :func:`unknown_keys` compares every (section, key) of
the loaded files, and every ``OS_<GROUP>__<OPT>`` variable, with the options
known for the service; :func:`config_source_check` catches ``config_source``
before the parse, which is when oslo.config would fetch it.

Known options are those registered at runtime plus those of the service's
config-generator namespaces (its spec's ``namespaces``), read from
``safe_launch/data/<project>.json`` (the spec's ``known_opts``, written by
``tools/gen_known_opts.py``): loading the namespaces themselves
would import eventlet and oslo.messaging before the backend is chosen and
take about a second.  Messages never carry values of secret options;
``env_sources`` records variable names only.
"""

import difflib
import functools
import importlib.metadata
import json
import os

from oslo_config import cfg
from oslo_config import types
from oslo_log import versionutils

from safe_launch import argv
from safe_launch import configfiles
from safe_launch.configfiles import env_name
from safe_launch.errors import NOT_SHOWN
from safe_launch import masking
from safe_launch import recordtype

DATA = os.path.join(os.path.dirname(__file__), "data")
POLICIES = ("error", "warn", "ignore")


class Problem(recordtype.Frozen):
    """One finding about one option, key or section.

    ``option`` is None for a whole section; ``source`` says where the value
    or key came from (a file path, an environment variable name), None when
    unknown.
    """

    group: str
    option: str
    message: str
    source: str = None


class ValidationReport(recordtype.Frozen):
    errors: tuple = ()
    warnings: tuple = ()
    env_sources: tuple = ()     # (group, option, environment variable name)

    @property
    def ok(self):
        return not self.errors

    def __add__(self, other):
        return ValidationReport(self.errors + other.errors, self.warnings + other.warnings,
                                self.env_sources + other.env_sources)


_norm = masking.group_key      # a section or group name as oslo.config matches it


def registered_opts(conf):
    """``(group, opt)`` for every option registered on ``conf`` ("DEFAULT" for none).

    oslo.config has no public API for the Opt objects (needed for
    ``secret`` and ``deprecated_opts``): this uses the private
    ``ConfigOpts._all_opt_infos()`` (pinned in tests/unit/test_internals.py).
    """
    return [(group, opt) for group, opt, _ in registered_infos(conf)]


def registered_infos(conf):
    """``(group, opt, cli)``: :func:`registered_opts` with whether each is a command
    line option."""
    return [(group.name if group is not None else "DEFAULT", info["opt"], bool(info["cli"]))
            for info, group in conf._all_opt_infos()]


def _file_source(files, group, opt):
    """The last of ``files`` that sets ``opt`` of ``group`` (or a deprecated name)."""
    names = {(_norm(group), opt.dest)} | {
        (_norm(d.group or group), d.name or opt.dest)
        for d in opt.deprecated_opts if d.name or d.group}
    found = None
    for f in _readable(files):
        try:
            sections = configfiles.read_sections(f)
        except ValueError:
            continue
        if any((_norm(s), k) in names for s, keys in sections.items() for k in keys):
            found = getattr(f, "path", f)
    return found


def _readable(files):
    """The files (checked FileRecords, or paths) that hold configuration text."""
    return [f for f in files if getattr(f, "kind", None) not in configfiles.DIR_KINDS]


def _error_message(opt, exc):
    if isinstance(exc, ValueError):
        reason = str(exc).split(" is not valid: ", 1)[-1]
        if opt.secret:
            return "invalid value " + NOT_SHOWN
        return "invalid value: %s" % reason
    if isinstance(exc, versionutils.DeprecatedConfig):
        return "deprecated and fatal_deprecations is set: %s" % exc
    if isinstance(exc, (cfg.NoSuchOptError, cfg.TemplateSubstitutionError)):
        if opt.secret:          # the error quotes a part of the value
            return "bad $substitution " + NOT_SHOWN
        return "bad $substitution: %s" % exc     # the option itself is registered
    return "cannot be read: %s: %s" % (type(exc).__name__, exc)


def eager_check(conf, files=(), allow_config_source=None, values=None):
    """Read every option of ``conf`` (parsed) given a value and report every problem.

    ``files``: the loaded config files (paths or FileRecords), only to name
    the file a bad value came from.  ``allow_config_source``: default
    ``[safe_launch] allow_config_source`` when registered, else False.
    Deprecated names used in files are reported by :func:`unknown_keys`.
    oslo.config's own deprecation log lines are silenced meanwhile: the
    report carries them (oslo logs each only once, at first read).
    ``values``: a list that gets ``(opt, value)`` of every option read, for
    whoever needs the values too (the masker): each is read only once.
    """
    if allow_config_source is None:
        allow_config_source = bool(_safe_launch_opt(conf, "allow_config_source", False))
    with masking.quiet_reads():
        errors, warnings, env_sources = _read_all(conf, files,
                                                  [] if values is None else values,
                                                  read_every=allow_config_source)
    if not allow_config_source:
        try:
            config_source = conf.config_source
        except (cfg.Error, ValueError):
            config_source = None     # reported above
        if config_source:
            loc = conf.get_location("config_source")
            errors.append(Problem("DEFAULT", "config_source", _CONFIG_SOURCE_DENIED,
                                  loc.detail if loc else None))
    return ValidationReport(tuple(errors), tuple(warnings), tuple(env_sources))


def _given_keys(files, environ):
    """Every ``(section, key)`` the operator gave a value to, normalized (lower case,
    ``-`` as ``_``): the keys of ``files`` and the ``OS_<GROUP>__<OPT>`` variables.
    None when some file cannot be split into keys (then every option is read)."""
    given = set()
    for f in _readable(files):
        try:
            sections = configfiles.read_sections(f)
        except ValueError:
            return None
        given.update((_norm(s), masking.option_key(k))
                     for s, keys in sections.items() for k in keys)
    for name in environ:
        group, sep, key = name[3:].partition("__") if name.startswith("OS_") else ("", "", "")
        if sep:
            given.add((_norm(group), masking.option_key(key)))
    return given


def _needs_reading(group, opt, given):
    """Whether reading ``opt`` of ``group`` can find a problem or a secret the
    operator gave.  An option no file or variable sets holds the default the
    service's code gave it, so reading it only costs (nova registers over 800):
    read are the options given a value (under any deprecated name too), those
    whose default substitutes another option (``$state_path/...``), the command
    line's (oslo.config keeps no keys for them) and the required ones."""
    if given is None or opt.required or (isinstance(opt.default, str) and "$" in opt.default):
        return True
    names = {(_norm(group), masking.option_key(opt.dest))}
    for d in opt.deprecated_opts:
        names.add((_norm(d.group or group), masking.option_key(d.name or opt.dest)))
    return not names.isdisjoint(given)


def _read_all(conf, files, values, read_every):
    """(errors, warnings, env sources) from reading every registered option that
    :func:`_needs_reading`; ``values`` gets ``(opt, value)`` of each one read."""
    errors, warnings, env_sources = [], [], []
    # A config_source's values come from elsewhere: no keys to go by.
    given = None if read_every else _given_keys(files, os.environ)
    for group, opt, cli in registered_infos(conf):
        if not cli and not _needs_reading(group, opt, given):
            continue
        name = opt.dest
        try:
            # What get_location() does, keeping the value it throws away:
            # _do_get() evaluates the value exactly as conf[group][name] does
            # (conversion, substitution), raising the real exception where
            # ConfigOpts.__getattr__ would turn some into NoSuchOptError.
            value, loc = conf._do_get(name, None if group == "DEFAULT" else cfg.OptGroup(group),
                                      None)
        except Exception as exc:
            env = env_name(group, name)
            source = env if env in os.environ and isinstance(exc, cfg.ConfigSourceValueError) \
                else _file_source(files, group, opt)
            errors.append(Problem(group, name, _error_message(opt, exc), source))
            continue
        values.append((opt, value))
        if loc is None:
            continue
        if loc.location is cfg.Locations.environment:
            env_sources.append((group, name, loc.detail))
        if opt.deprecated_for_removal and loc.location.is_user_controlled:
            reason = " ".join((opt.deprecated_reason or "").split())
            warnings.append(Problem(group, name, "[%s] %s is deprecated for removal%s" % (
                group, name, ": " + reason if reason else ""), loc.detail or None))
    return errors, warnings, env_sources


_CONFIG_SOURCE_DENIED = ("config_source makes oslo.config fetch configuration from other "
                         "sources (a URL): denied unless [safe_launch] allow_config_source")


def config_source_check(files, environ, allow_config_source=None):
    """Before the parse: refuse ``[DEFAULT] config_source`` in ``files`` or ``environ``.

    oslo.config fetches the sources while parsing, so after the parse is too
    late.  ``allow_config_source`` defaults to the raw ``[safe_launch]
    allow_config_source`` of the same files.
    """
    if allow_config_source is None:
        raw, _ = configfiles.raw_value(files, "safe_launch", "allow_config_source")
        try:
            allow_config_source = bool(types.Boolean()(raw)) if raw is not None else False
        except ValueError:
            allow_config_source = False
    if allow_config_source:
        return ValidationReport()
    value, source = configfiles.raw_value(files, "DEFAULT", "config_source")
    if environ.get("OS_DEFAULT__CONFIG_SOURCE"):
        value, source = environ["OS_DEFAULT__CONFIG_SOURCE"], "OS_DEFAULT__CONFIG_SOURCE"
    if value and value.strip():
        return ValidationReport((Problem("DEFAULT", "config_source", _CONFIG_SOURCE_DENIED,
                                         source),))
    return ValidationReport()


def known_opts_path(service):
    """The known-options data file of ``service`` (a ServiceSpec)."""
    return os.path.join(DATA, service.known_opts)


def known_secret_keys(service):
    """``(group, name)`` of every option the namespaces and keystoneauth's
    plugins declare secret, registered at parse time or not (group None:
    a keystoneauth option, in whichever group loads the plugin).  For the
    masker, before anything can print their values."""
    return _known_keys(service)[0]


def known_plain_keys(service):
    """``(group, name)`` of every other known option, as :func:`known_secret_keys`:
    for the masker, whose name heuristic is only for names nothing declares."""
    return _known_keys(service)[1]


@functools.lru_cache(maxsize=4)
def _known_keys(service):
    data = _known_opts_json(service.known_opts)
    keys = (set(), set())
    for ns in service.namespaces:
        for group, opts in data["namespaces"][ns]["opts"].items():
            for name, entry in opts.items():
                keys["s" not in entry[1]].add((group, name))
    for name, entry in data["auth_plugin_opts"]["opts"].items():
        keys["s" not in entry[1]].add((None, name))
    return frozenset(keys[0]), frozenset(keys[1])


class Validation(recordtype.Frozen):
    """The validate phase's decision: what was wrong, what was checked."""

    error_count: int
    warnings: tuple
    errors: tuple
    files: tuple          # path, kind, sha256, owner, group, mode of each file read
    env_sources: tuple    # (group, option, OS_* variable name): names, never values
    where: tuple = ()     # per error: the file, group and option it applies to

    @property
    def ok(self):
        return not self.errors

    @property
    def problems(self):
        """Every error as ``(text, where)``."""
        return tuple(zip(self.errors, self.where))

    def summary(self):
        return "validate: %d error(s), %d warning(s), %d file(s) checked, %d value(s) " \
               "from the environment" % (self.error_count, len(self.warnings),
                                         len(self.files), len(self.env_sources))


def describe(problem):
    """A :class:`Problem` as (one line, where it applies)."""
    group = problem.group or "DEFAULT"
    where = "[%s] %s" % (group, problem.option) if problem.option else "[%s]" % group
    source = " (%s)" % problem.source if problem.source else ""
    detail = {"group": group, "option": problem.option}
    if problem.source and problem.source.startswith("/"):
        detail["file"] = problem.source
    message = problem.message
    if message.startswith(where + ": "):
        message = message[len(where) + 2:]
    return "%s%s: %s" % (where, source, message), detail


def warnings_of(decision):
    """The ``config.warning`` records' data: the errors not enforced, the warnings."""
    return [{"outcome": "failure", "error": error,
             "summary": "validate: not enforced ([safe_launch] enforce = false): " + error}
            for error in decision.errors] + [
        {"summary": "validate: warning: " + warning, "warning": warning}
        for warning in decision.warnings]


def enforced(decision, conf):
    """Whether ``decision``'s errors stop the launch (``[safe_launch] enforce``)."""
    return bool(decision.errors) and conf.safe_launch.enforce


def check(conf, guard, spec, environ, checked=None, values=None):
    """The validate phase's one rule, for the launch, a reload and ``check``.

    ``conf`` is parsed from ``guard.argv``.  Every file the parse read and
    the option values name gets the configured file policy; every value is
    read (:func:`eager_check`); every key is matched (:func:`unknown_keys`);
    ``checked`` (the records made before the parse, whose bytes it read)
    must be unchanged now; keys and raw values are read from their bytes.
    """
    policy = conf.safe_launch

    def accepted(paths):
        return [configfiles.accept(path, kind, policy.file_policy, guard, environ,
                                   policy.service_user, config_dirs=spec.config_dirs)
                for path, kind in paths]
    records = accepted(configfiles.files_to_check(guard, spec.project, spec.binary, environ))
    read = records if checked is None else checked      # what the parse read
    records += accepted(configfiles.files_to_check(guard, spec.project, spec.binary, environ,
                                                   conf=conf, records=read))
    errors = configfiles.problems_of(records)
    if checked is not None:
        errors += [(p, {}) for p in configfiles.verify_unchanged(checked)]
    errors += [(p, {"option": "log_file"})
               for p in configfiles.log_output_problems(
                   conf, spec.binary, configfiles.trusted_uids(policy.service_user))]
    errors += [("--%s: denied by [safe_launch] denied_cli_options" % key.replace(".", "-"),
                {"option": key.rpartition(".")[2]})
               for key in guard.options if argv.is_denied(key, policy.denied_cli_options)]
    report = (eager_check(conf, read, values=values)
              + unknown_keys(conf, read, spec, environ=environ)
              + lazy_check(conf, read, environ, spec))
    errors += [describe(p) for p in report.errors]
    warnings = [describe(p)[0] for p in report.warnings] + list(guard.warnings)
    return Validation(len(errors), tuple(warnings), tuple(text for text, _ in errors),
                      tuple(configfiles.as_record(r) for r in records), report.env_sources,
                      tuple(where for _, where in errors))


@functools.lru_cache(maxsize=4)
def _known_opts_json(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


class _Known(recordtype.Mutable):
    opts: dict           # normalized group -> set of option names
    deprecated: dict     # normalized group -> {deprecated name: "group.option"}


def _add(known, group=None, names=(), deprecated=None):
    """Add ``names`` of ``group``, and ``{deprecated group: {name: "group.option"}}``."""
    if group is not None:
        known.opts.setdefault(_norm(group), set()).update(names)
    for dgroup, entries in (deprecated or {}).items():
        known.deprecated.setdefault(_norm(dgroup), {}).update(entries)


def _known(conf, service):
    data = _known_opts_json(service.known_opts)
    known = _Known({}, {})
    for ns in service.namespaces:
        try:
            spec = data["namespaces"][ns]
        except KeyError:
            raise ValueError("namespace %s is not in %s: run tools/gen_known_opts.py"
                             % (ns, known_opts_path(service)))
        for group, names in spec["opts"].items():
            _add(known, group, names)
        _add(known, deprecated=spec["deprecated"])
    for group, opt in registered_opts(conf):
        _add(known, group, (opt.dest,))
        for d in opt.deprecated_opts:
            if d.name or d.group:
                _add(known, deprecated={d.group or group: {
                    d.name or opt.dest: "%s.%s" % (group, opt.dest)}})
    return known


@functools.lru_cache(maxsize=4)
def stale(service):
    """Warnings for namespaces whose distribution changed since the service's data.

    ``safe-launch check`` reports them (and a unit test keeps the data
    current); a launch does not: reading ten distributions' metadata cost
    every launch about 2 ms for a fact that only changes with an upgrade.
    """
    warnings = []
    for ns in service.namespaces:
        dist, _, version = _known_opts_json(service.known_opts)["namespaces"][ns][
            "distribution"].partition("==")
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            warnings.append(Problem(None, None, "known option names of %s come from %s %s, "
                                    "installed: %s; run tools/gen_known_opts.py"
                                    % (ns, dist, version, installed),
                                    known_opts_path(service)))
    return tuple(warnings)


def _hint(name, candidates, limit=0.8):
    candidates = sorted(candidates)
    for candidate in candidates:
        if candidate.replace("-", "_").lower() == name.replace("-", "_").lower():
            return " (did you mean %s?)" % candidate
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=limit)
    return " (did you mean %s?)" % close[0] if close else ""


def _safe_launch_opt(conf, name, default):
    """``[safe_launch] <name>``, or ``default`` when unregistered or invalid.

    An invalid value is one of the errors :func:`eager_check` reports.
    """
    try:
        return conf.safe_launch[name] if "safe_launch" in conf else default
    except (cfg.Error, ValueError):
        return default


def _policy(conf, name, given, default):
    if given is None:
        given = _safe_launch_opt(conf, name, default)
    if given not in POLICIES:
        raise ValueError("%s policy must be one of %s, not %r" % (name, POLICIES, given))
    return given


def unknown_keys(conf, files, service, key_policy=None, section_policy=None, environ=None):
    """Compare every (section, key) of ``files`` with the known options.

    Known: options registered on ``conf`` plus those of ``service``'s
    namespaces (from its known-options data), and every keystoneauth plugin option in a group
    that has ``auth_type`` or that an ``auth_section`` names.  A deprecated
    name is a warning; an unknown key in a known section goes by
    ``key_policy``, an unknown section by ``section_policy`` ("error",
    "warn" or "ignore"; default: ``[safe_launch] unknown_keys`` and
    ``unknown_sections``).  With ``environ``, ``OS_<GROUP>__<OPT>``
    variables naming no known option go by ``key_policy`` too.
    """
    key_policy = _policy(conf, "unknown_keys", key_policy, "error")
    section_policy = _policy(conf, "unknown_sections", section_policy, "warn")
    known = _known(conf, service)
    errors, warnings = [], []
    report = {"error": errors.append, "warn": warnings.append, "ignore": lambda p: None}
    parsed = []
    for f in _readable(files):
        path = getattr(f, "path", f)
        try:
            parsed.append((path, configfiles.read_sections(f)))
        except configfiles.FileRefused as exc:      # names the line number, never the line
            errors.append(Problem(None, None, "cannot be parsed: %s" % exc.reason, path))
    auth = _known_opts_json(service.known_opts)["auth_plugin_opts"]
    auth_groups = {g for g, names in known.opts.items() if "auth_type" in names}
    auth_groups |= {_norm(v) for _, sections in parsed for keys in sections.values()
                    for v in keys.get("auth_section", ()) if v.strip()}
    for group in auth_groups:
        _add(known, group, auth["opts"], {group: {
            name: "%s.%s" % (group, dest) for name, dest in auth["deprecated"].items()}})
    for path, sections in parsed:
        for section, keys in sections.items():
            group = _norm(section)
            if group not in known.opts and group not in known.deprecated:
                report[section_policy](Problem(section, None, "[%s]: unknown section, ignored by "
                                               "oslo.config%s" % (section, _hint(
                                                   section, known.opts, 0.75)), path))
                continue
            for key in keys:
                _check_key(known, group, section, key, path, report[key_policy], warnings)
    for var in sorted(environ or ()):
        group, sep, key = var[3:].partition("__")
        if not var.startswith("OS_") or not sep:
            continue
        names = known.opts.get("DEFAULT" if group == "DEFAULT" else group.lower(), ())
        if key not in {n.upper() for n in names}:
            report[key_policy](Problem(group, key, "environment variable %s names no known "
                                       "option; oslo.config ignores it" % var, var))
    return ValidationReport(tuple(errors), tuple(warnings))


# Registered, so "known", but only the command line selects files: in a file
# oslo.config loads nothing they name, yet the value is theirs (find_file
# then searches the directory for the policy file).
_COMMAND_LINE_ONLY = frozenset(("config_file", "config_dir"))


def _check_key(known, group, section, key, path, report, warnings):
    if group == "DEFAULT" and key in _COMMAND_LINE_ONLY:
        report(Problem(section, key, "[%s] %s: a command-line option: oslo.config loads no "
                       "file it names here (use --%s)" % (section, key, key.replace("_", "-")),
                       path))
        return
    if key in known.opts.get(group, ()):
        return
    new = known.deprecated.get(group, {}).get(key)
    if new is not None:
        new_group, _, new_name = new.rpartition(".")
        warnings.append(Problem(section, key, "[%s] %s is deprecated; use [%s] %s"
                                % (section, key, new_group, new_name), path))
        return
    report(Problem(section, key, "[%s] %s: unknown option, ignored by oslo.config%s"
                   % (section, key, _hint(key, known.opts.get(group, ()))), path))


# -- options registered lazily: typed from known_opts.json ---------------------------


class _Unresolved(Exception):
    """A $reference this check cannot evaluate (an unset lazily registered option)."""


class LazyValues:
    """What oslo.config will read, once registered, for options ``conf`` lacks now.

    oslo.messaging, keystonemiddleware and keystoneauth plugins register
    their options when the service creates its transport or clients: their
    values are read here by oslo.config's rules, from the same parsed files
    (section names lower-cased but DEFAULT; last file first; in a file, the
    new name, then each deprecated name; every value of a multi-valued
    option), the ``OS_<GROUP>__<OPT>`` variable first, and ``$name``
    substituted as oslo.config would.  Options are ``(group, name)`` with
    the group normalized as oslo.config matches sections.
    """

    def __init__(self, conf, files, environ, service):
        self.conf = conf
        self.data = service.known_opts
        # os.environ encodes each key it is asked for: copy the OS_* ones once
        self.environ = {k: v for k, v in environ.items() if k.startswith("OS_")}
        self.parsed = []
        for record in _readable(files):
            path = getattr(record, "path", record)
            try:
                sections = configfiles.read_sections(record)    # its checked bytes
            except (OSError, ValueError):
                continue     # unknown_keys reports a file that cannot be parsed
            merged = {}
            for section, keys in sections.items():
                target = merged.setdefault(_norm(section), {})
                for key, values in keys.items():
                    target.setdefault(key, []).extend(values)
            self.parsed.append((path, merged))
        norm = functools.lru_cache(maxsize=None)(_norm)     # a few groups, ~900 options
        self.registered = {(norm(g), o.dest) for g, o in registered_opts(conf)}
        self.groups, self.deprecated = _group_index(service)
        self.auth = _known_opts_json(self.data)["auth_plugin_opts"]
        self.auth_groups = self._auth_groups()

    def _auth_groups(self):
        """Groups keystoneauth loads a plugin in: with auth_type, or named by auth_section."""
        groups = {g for g, tables in self.groups.items()
                  if any("auth_type" in t for t in tables)}
        groups |= {g for g, o in self.registered if o == "auth_type"}
        groups |= {_norm(v) for _, sections in self.parsed for keys in sections.values()
                   for v in keys.get("auth_section", ()) if v.strip()}
        return groups

    def entry(self, group, name):
        """``[type, flags(, deprecated names)]`` of a known option, else None."""
        for table in self.groups.get(group, ()):
            if name in table:
                return table[name]
        if group in self.auth_groups and name in self.auth["opts"]:
            entry = self.auth["opts"][name]
            olds = [[group, d] for d, new in self.auth["deprecated"].items() if new == name]
            return entry[:2] + [olds] if olds else entry
        return None

    def lazy(self, group, name):
        """Whether ``name`` of ``group`` is known here but not registered yet."""
        return (group, name) not in self.registered and self.entry(group, name) is not None

    def option_of(self, section, key):
        """The option a file's (normalized) section and key set, deprecated names too."""
        if self.entry(section, key) is not None:
            return section, key
        new = self.deprecated.get(section, {}).get(key)
        if new is not None:
            group, _, name = new.rpartition(".")
            return _norm(group), name
        if section in self.auth_groups and key in self.auth["deprecated"]:
            return section, self.auth["deprecated"][key]
        return None

    def names(self, group, name):
        """Where oslo.config looks for ``name`` of ``group``, in its order."""
        entry = self.entry(group, name)
        olds = entry[2] if len(entry) > 2 else ()
        return [(group, name)] + [(_norm(g), n) for g, n in olds]

    def raw(self, group, name):
        """[(value, source)] oslo.config will convert (several if multi-valued)."""
        multi = "m" in self.entry(group, name)[1]
        env = env_name(group, name)
        if env in self.environ:
            value = self.environ[env]
            # oslo.config converts each item of a multi option's value: of a
            # string from the environment, each character
            return [(v, env) for v in value] if multi else [(value, env)]
        found = []
        for path, sections in reversed(self.parsed):
            for section, key in self.names(group, name):
                values = sections.get(section, {}).get(key)
                if values and not multi:
                    return [(values[-1], path)]
                found[:0] = [(v, path) for v in values or ()]
        return found

    def type_of(self, group, name):
        return _type(self.data, self.entry(group, name)[0])

    def secret(self, group, name):
        return "s" in self.entry(group, name)[1]

    def substitute(self, value, group, depth=0):
        """``value`` with ``$name``/``${group.name}`` replaced as oslo.config does.

        Raises _Unresolved for a reference to an unset lazily registered
        option (its default is not recorded), NoSuchOptError for a name no
        option has.
        """
        if not isinstance(value, str) or "$" not in value:
            return value
        if depth > 10:
            raise cfg.TemplateSubstitutionError("too many levels of $substitution")
        lookup = _Lookup(self, group, depth)
        return cfg.ConfigOpts.Template(value.replace(r"\$", "$$")).safe_substitute(lookup)

    def value(self, group, name, depth=0):
        """The converted value of one option, registered or not (None when unset)."""
        group = _norm(group)
        if (group, name) in self.registered:
            try:
                return self.conf[name] if group == "DEFAULT" else self.conf[group][name]
            except (cfg.Error, ValueError):
                raise _Unresolved(name)     # eager_check reports it
        if not self.lazy(group, name):
            raise cfg.NoSuchOptError(name, group)
        raw = self.raw(group, name)
        if not raw:
            raise _Unresolved(name)
        convert = self.type_of(group, name)
        values = [convert(self.substitute(v, group, depth + 1)) for v, _ in raw]
        return values if "m" in self.entry(group, name)[1] else values[0]

    def source(self, group, name):
        """Where the value oslo.config will use comes from (file or variable)."""
        group = _norm(group)
        if (group, name) in self.registered:
            loc = self.conf.get_location(name, None if group == "DEFAULT" else group)
            return loc.detail if loc else None
        raw = self.raw(group, name) if self.lazy(group, name) else ()
        return raw[-1][1] if raw else None

    def candidates(self):
        """Lazily registered options that a file or an environment variable sets."""
        found = set()
        for _, sections in self.parsed:
            for section, keys in sections.items():
                found.update(filter(None, (self.option_of(section, k) for k in keys)))
        for var in self.environ:
            group, sep, key = var[3:].partition("__")
            if var.startswith("OS_") and sep:
                group = "DEFAULT" if group == "DEFAULT" else group.lower()
                if self.entry(group, key.lower()) is not None:
                    found.add((group, key.lower()))
        return sorted(k for k in found if k not in self.registered)

    def problems(self):
        """A Problem for every value of a lazily registered option its type refuses."""
        found = []
        for group, name in self.candidates():
            found += self._check(group, name)
        return found

    def _check(self, group, name):
        convert, secret = self.type_of(group, name), self.secret(group, name)
        found = []
        for raw, source in self.raw(group, name):
            try:
                convert(self.substitute(raw, group))
            except _Unresolved:
                continue
            except ValueError as exc:
                message = "invalid value " + NOT_SHOWN if secret else \
                    "invalid value: %s" % exc
                found.append(Problem(group, name, message, source))
            except cfg.Error as exc:
                message = "bad $substitution" + (" " + NOT_SHOWN if secret
                                                 else ": %s" % exc)
                found.append(Problem(group, name, message, source))
        return found


@functools.lru_cache(maxsize=None)
def _type(data, index):
    """The oslo.config type object of ``types[index]`` in the data file ``data``."""
    from safe_launch import typed
    return typed.build(_known_opts_json(data)["types"][index])


@functools.lru_cache(maxsize=4)
def _group_index(service):
    """({normalized group: [the namespaces' option tables]},
    {normalized deprecated group: {deprecated name: "group.option"}})."""
    data = _known_opts_json(service.known_opts)
    groups, deprecated = {}, {}
    for ns in service.namespaces:
        spec = data["namespaces"][ns]
        for group, table in spec["opts"].items():
            groups.setdefault(_norm(group), []).append(table)
        for group, names in spec["deprecated"].items():
            deprecated.setdefault(_norm(group), {}).update(names)
    return groups, deprecated


class _Lookup:
    """StrSubWrapper's rule: ``group.name``, else ``name`` in the group, else in DEFAULT."""

    def __init__(self, values, group, depth):
        self.values, self.group, self.depth = values, group, depth

    def __getitem__(self, key):
        group, dot, name = key.partition(".")
        tries = [(group, name)] if dot else [(self.group, key)]
        tries.append(("DEFAULT", key))
        for group, name in tries:
            try:
                value = self.values.value(group, name, self.depth)
            except cfg.NoSuchOptError:
                continue
            return "" if value is None else value
        raise cfg.NoSuchOptError(key)


def lazy_check(conf, files, environ, service):
    """Every value of an option ``conf`` does not register yet, checked against its
    type; then what ``service`` (a ServiceSpec) cannot start without."""
    from safe_launch import requirements
    values = LazyValues(conf, files, environ, service)
    errors = values.problems() + requirements.check(values, service.requirements) + \
        requirements.auth_plugin_problems(values)
    return ValidationReport(tuple(errors))
