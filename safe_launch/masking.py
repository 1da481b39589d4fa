"""Secret masking for everything the launcher writes.

Three layers, applied by :meth:`Masker.mask` to strings (recursively through
dicts, lists, tuples and sets):

1. exact values registered with :meth:`Masker.add_secret` (values of options
   declared ``secret=True``, passwords found in URLs, ``OS_*`` environment
   values; see the ``secret_values_from_*`` functions);
2. URL userinfo passwords, ``scheme://user:***@host``, also with an unencoded
   ``@`` in the password and several hosts in one URL
   (``rabbit://u:***@h1,u2:***@h2/``);
3. a name heuristic (:func:`is_secret_name`) for ``name=value``,
   ``name: value``, ``"name": "value"``, ``--name value`` and argv lists
   (``['--os-password', 'x']``).

oslo.utils' ``mask_password`` leaks URL passwords and the ``--opt value``
form, hence this module.  False positives are preferred to leaks: a bare
``password``/``secret``/``token`` word hides the word after it.  A path is
not a secret: ``--password-file /path`` and ``audit_key_file=/path`` show
the path (the file's content is the secret, and it is never printed).

Every secret the launch is given is registered by :func:`register_declared`
right after the service's options are registered, before anything (the argv
guard, the parse, validation) can print it.

Secrets of 1 to 3 characters are masked only where a message quotes them
(``'ab'``, ``"ab"``: how ``%r`` and library messages show values) and, in
structured data, under their option's name: masking every ``ab`` in prose
would hide ordinary words, and such a value has no secrecy to protect.
"""

import contextlib
import functools
import json
import logging
import os
import re
import threading
import urllib.parse

from safe_launch import argv as argv_guard
from safe_launch import events

MASK = "***"
MIN_SECRET_LENGTH = 4   # shorter registered values would mask ordinary text

_SUBSTRINGS = ("password", "passwd", "passphrase", "pswd", "secret", "token",
               "credential", "authorization", "apikey", "authkey")
_COMPONENTS = frozenset(("pass", "pwd", "key", "psk"))
_NOT_SECRET = frozenset(("keystone_authtoken",))      # a section name
_BARE_WORDS = "password|passwd|passphrase|pwd|secret|token"
# The last word of a name whose value is a path (audit_key_file, password_file).
_PATH_WORDS = frozenset(("file", "files", "path", "paths", "dir", "dirs", "directory"))

# scheme://<authority>: the authority is masked up to its last "@", so an
# unencoded "@" (or "/") in a password is masked too.
# Each name-like pattern starts only where a run of name characters starts:
# otherwise every position inside a long token is tried again (quadratic).
_URL = re.compile(r"(?P<scheme>(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://)"
                  r"(?P<rest>[^\s]+)")
_USERINFO = re.compile(r"(?:^|(?<=,))(?P<user>[^:@,/]*):(?P<pw>.*?)@(?=[^@,]*(?:,|$))")
_KV = re.compile(r"""(?P<lq>["']?)(?<![\w.\-])(?P<name>-{0,2}\w[\w.\-]*)(?P<nq>["']?)"""
                 r"""(?P<sep>[ \t]*[=:][ \t]*)""")
_FLAG_SPACE = re.compile(r"(?<![\w\-])(?P<name>-{1,2}[A-Za-z][\w.\-]*)(?P<sep>[ \t]+)"
                         r"(?!--)(?=\S)")
_BARE_SPACE = re.compile(r"(?<![\w\-])(?P<name>%s)(?P<sep>[ \t]+)(?=[^\s=:])" % _BARE_WORDS,
                         re.IGNORECASE)


def is_secret_name(name):
    """Whether an option, key, header or variable name holds a secret.

    Matches ``password``, ``passwd``, ``secret``, ``token``, ``credential``,
    ``authorization`` anywhere (``memcache_secret_key``, ``X-Auth-Token``,
    ``OS_PASSWORD``), ``pass``/``pwd``/``key``/``psk`` as a word
    (``--db-pass``, ``fixed_key``, ``api_key``, not ``keystone``), and
    ``connection`` as the last word (``slave_connection``, not
    ``connection_recycle_time``).  The section name ``keystone_authtoken`` is
    not a secret, nor is a name whose last word is ``file``, ``path``, ``dir``
    (or a plural): its value is a path, where a secret is, not the secret.  An
    option declared ``secret=True`` is secret whatever its name
    (:func:`declared_secrets`).
    """
    name = name.lower().lstrip("-")
    words = [w for w in re.split(r"[^a-z0-9]+", name) if w]
    if name in _NOT_SECRET or not words or words[-1] in _PATH_WORDS:
        return False
    if any(s in name for s in _SUBSTRINGS):
        return True
    return words[-1] == "connection" or any(w in _COMPONENTS or w.endswith("pass")
                                            for w in words)


def url_passwords(text):
    """The passwords in the URL userinfo parts of ``text`` (decoded too)."""
    found = set()
    for url in _URL.finditer(text):
        for info in _USERINFO.finditer(_authority(url.group("rest"))):
            if info.group("pw"):
                found.update((info.group("pw"), urllib.parse.unquote(info.group("pw"))))
    return found


def _authority(rest):
    """The part of ``rest`` (what follows ``scheme://``) holding userinfo."""
    at = rest.rfind("@")
    if at < 0:
        return ""
    end = re.search(r"[/?#]", rest[at:])
    return rest[:at + end.start()] if end else rest


def _mask_urls(text):
    def one(url):
        rest = url.group("rest")
        auth = _authority(rest)
        masked = _USERINFO.sub(lambda m: m.group("user") + ":" + MASK + "@", auth)
        return url.group("scheme") + masked + rest[len(auth):]
    return _URL.sub(one, text)


def _value_end(text, start, quote, spaced):
    """Where an unquoted or quoted value that starts at ``start`` ends."""
    if start < len(text) and text[start] in "\"'":
        q, i = text[start], start + 1
        while i < len(text) and text[i] != q:
            i += 2 if text[i] == "\\" else 1
        return min(i + 1, len(text)), True
    if quote:                                   # '--password=x y' inside quotes
        end = text.find(quote, start)
        return (len(text) if end < 0 else end), False
    pattern = r"[^\n]*" if spaced else r"\S*"   # "password = a b" runs to the line end
    return re.compile(pattern).match(text, start).end(), False


def _names_a_rule(text, match):
    """Whether ``name: ...`` is the launcher's own "option: rule" message form.

    A flag (``--os-password: unknown option``) or an option named after its
    group (``[placement] password: cannot be read``) followed by a colon is
    how every refusal names what it refuses: neither argv nor oslo.config
    assigns values that way, so what follows is the rule, not a value.
    """
    if not match.group("sep").lstrip().startswith(":") or match.group("lq"):
        return False
    name = match.group("name")
    return name.startswith("--") or text[:match.start()].endswith("] ")


def _mask_pairs(text, pattern, accept, spaced_to_eol=False):
    """Mask the value after each ``pattern`` match whose name is accepted.

    With ``spaced_to_eol``, an unquoted value after a separator with spaces
    (``password = a b``) runs to the end of the line, else to the next space.
    """
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() < pos or not accept(m.group("name")) or _names_a_rule(text, m):
            continue
        quote = m.group("lq") if "lq" in pattern.groupindex and not m.group("nq") else ""
        spaced = spaced_to_eol and m.group("sep") != m.group("sep").strip()
        end, quoted = _value_end(text, m.end(), quote, spaced)
        value = text[m.end():end]
        if quoted:
            closed = len(value) > 1 and value[-1] == value[0]
            value = value[0] + MASK + (value[0] if closed else "")
        elif value.strip():
            value = MASK + value[len(value.rstrip()):]
        out.append(text[pos:m.end()] + value)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_text(text):
    """``text`` with URL passwords and name-heuristic values masked."""
    text = _mask_urls(text)
    text = _mask_pairs(text, _KV, is_secret_name, spaced_to_eol=True)
    text = _mask_pairs(text, _FLAG_SPACE, is_secret_name)
    return _mask_pairs(text, _BARE_SPACE, lambda name: True)


def _blank(value):
    """``value`` (under a secret name) with every string and number masked."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_blank(item) for item in value]
    if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bool):
        return MASK
    return value


_SUBSTITUTION = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[\w.]+))")


def quoted_forms(value):
    """Every form in which a message may show ``value`` (a secret).

    The value, stripped, with ``$$`` unescaped (as oslo.config substitutes
    it), each item of a comma-separated list (a list type's error quotes one
    item) and each ``$name``/``${group.name}`` it refers to, with the parts
    of a dotted name (oslo.config's errors say "no such option name", "no
    such group [group]"); and of each of those: its ``repr()`` inner part,
    its ``unicode_escape`` form as the argv guard shows it (also cut), its
    JSON and :func:`events.one_line` forms, and URL-quoted forms.
    """
    base = {value, value.strip(), value.replace("$$", "$")}
    if "," in value:
        base.update(item.strip() for item in value.split(","))
    # A ``$name`` in a secret is quoted by oslo.config's substitution errors
    # ("no such option name in group [g]", "no such group [g]"): masked
    # there, not wherever the same word names a real option.
    fragments = set()
    for match in _SUBSTITUTION.finditer(value):
        name = match.group("braced") or match.group("name") or ""
        for part in {name} | set(name.split(".")):
            if part:
                fragments.update(("option %s" % part, "group [%s]" % part))
    forms = set(fragments)
    for text in base:
        shown = argv_guard.show(text)
        forms.update((text, repr(text)[1:-1], json.dumps(text)[1:-1], events.one_line(text),
                      shown[:-3] if shown.endswith("...") else shown,
                      # an undecodable byte (surrogateescape: argv, environment)
                      # is quoted as the byte it was
                      urllib.parse.quote(text, safe="", errors="surrogateescape"),
                      urllib.parse.quote_plus(text, errors="surrogateescape")))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _forms(value):
    """What to mask for the secret ``value``: see the module doc for short ones."""
    if len(value) >= MIN_SECRET_LENGTH:
        return quoted_forms(value)
    inner = repr(value)[1:-1]
    return {"'%s'" % inner, '"%s"' % inner}


def option_key(name):
    """An option, key or flag name as compared with declared names."""
    return name.lower().lstrip("-").replace("-", "_")


_TRIE_DEPTH = 8


def alternation(literals):
    """A pattern matching any of ``literals``, the longest where several match at
    one place (as their plain alternation, longest first, does).

    Shaped as a trie over the first :data:`_TRIE_DEPTH` characters, each leaf
    the plain alternation of what follows: ``re`` tries the branches of an
    alternation one by one at every position, so a flat one costs each
    masked string its length times the number of forms (21 s for a check
    with 10,000 secret-named variables, each error record masked against
    all of them); here a position costs a walk down a few levels.  The
    depth is bounded, so no secret's length makes the pattern deep.
    """
    def build(items, depth):
        # items: the literals' rest at this node (all sharing what led here)
        if depth == _TRIE_DEPTH:
            return _flat(items)
        children, ends = {}, False
        for item in items:
            if item:
                children.setdefault(item[0], []).append(item[1:])
            else:
                ends = True
        branches = [re.escape(char) + build(rest, depth + 1)
                    for char, rest in sorted(children.items())]
        if not branches:
            return ""
        group = branches[0] if len(branches) == 1 and not ends else \
            "(?:%s)" % "|".join(branches)
        return group + "?" if ends else group       # longer first, then the end here
    return build(list(literals), 0)


def _flat(items):
    rest = sorted((i for i in items if i), key=len, reverse=True)
    if not rest:
        return ""
    group = "(?:%s)" % "|".join(map(re.escape, rest))
    return group + "?" if len(rest) < len(items) else group


class Masker:
    """Masks secrets: registered exact values plus the heuristics above.

    Thread-safe; ``Masker()`` is usable as the Emitter's ``mask`` callable.
    """

    def __init__(self):
        self._secrets = set()
        self._names = frozenset()
        self._pattern = None
        self._lock = threading.Lock()
        # register_launch's last ((spec, conf, options registered), DeclaredSecrets)
        self.declared = (None, None)

    def add_secret(self, value):
        """Mask ``value`` from now on, in every form a message may show it in."""
        self.add_secrets((value,))

    def add_secrets(self, values):
        """:meth:`add_secret` for each of ``values`` (non-strings and ``""`` ignored)."""
        forms = set()
        for value in values:
            if isinstance(value, str) and value:
                forms |= _forms(value)
        with self._lock:
            if forms <= self._secrets:
                return
            self._secrets |= forms
            self._pattern = re.compile(alternation(self._secrets))

    def declare_names(self, names):
        """Treat keys and flags named ``names`` (declared secret) as secret names too."""
        with self._lock:
            self._names = self._names | {option_key(name) for name in names}

    def is_secret_key(self, name):
        """Whether structured data under ``name`` is secret (heuristic or declared)."""
        return is_secret_name(name) or option_key(name) in self._names

    def _is_secret_flag(self, item):
        return (isinstance(item, str) and item.startswith("-") and "=" not in item
                and self.is_secret_key(item))

    def mask(self, value):
        """``value`` with every secret masked; containers are copied, not changed."""
        if isinstance(value, str):
            pattern = self._pattern
            return mask_text(pattern.sub(MASK, value) if pattern else value)
        if isinstance(value, dict):
            return {self.mask(k): _blank(v) if isinstance(k, str) and self.is_secret_key(k)
                    and not isinstance(v, dict) else self.mask(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            masked = [MASK if i and self._is_secret_flag(items[i - 1]) and isinstance(item, str)
                      and not item.startswith("--") else self.mask(item)
                      for i, item in enumerate(items)]
            return masked if isinstance(value, list) else type(value)(masked)
        return value

    __call__ = mask


def mask(value):
    """Mask ``value`` with the heuristics only (no registered values)."""
    return _HEURISTICS.mask(value)


_HEURISTICS = Masker()


def group_key(group):
    """A section or group name as oslo.config matches it (DEFAULT exactly)."""
    return "DEFAULT" if group in (None, "DEFAULT") else group.lower()


class DeclaredSecrets:
    """The options declared ``secret=True``, by (group, name), and the known
    options declared not secret.

    ``keys``: normalized ``(group, name)`` pairs; group None means "in any
    group" (keystoneauth plugin options, registered in whichever group
    names the plugin).  ``plain``: the same for options known and declared
    not secret.  The name heuristic (:func:`is_secret_name`) is for the
    names nothing declares: a known option's own declaration wins, so the
    value of ``[keystone_authtoken] service_token_roles`` ("service") is not
    registered as a secret that would then mask the word everywhere.
    """

    def __init__(self, keys=(), plain=()):
        self.keys = frozenset((None if g is None else group_key(g), option_key(n)) for g, n in keys)
        self._flags = {n if g == "DEFAULT" else "%s_%s" % (g, n)
                       for g, n in self.keys if g is not None}
        self._anywhere = {n for g, n in self.keys if g is None}
        plain = {(None if g is None else group_key(g), option_key(n)) for g, n in plain} - self.keys
        self._plain = {k for k in plain if k[0] is not None}
        self._plain_anywhere = {n for g, n in plain if g is None} - self._anywhere

    @functools.cached_property
    def _plain_flags(self):         # only a flag's judgement needs them
        return {n if g == "DEFAULT" else "%s_%s" % (g, n) for g, n in self._plain}

    def covers(self, group, name):
        """Whether option ``name`` of section/group ``group`` is declared secret."""
        name = option_key(name)
        return (group_key(group), name) in self.keys or name in self._anywhere

    def holds_secret(self, group, name):
        """Whether the value of ``name`` in section/group ``group`` is a secret:
        declared so, or not a known option and secret-named."""
        if self.covers(group, name):
            return True
        key = option_key(name)
        if (group_key(group), key) in self._plain or key in self._plain_anywhere:
            return False
        return is_secret_name(name)

    def flag(self, option_string):
        """Whether ``--group-name`` (any spelling) names a declared-secret option."""
        flag = option_key(option_string)
        return flag in self._flags or any(flag == n or flag.endswith("_" + n)
                                          for n in self._anywhere)

    def flag_holds_secret(self, option_string):
        """:meth:`holds_secret` for a command-line flag (``--group-name``)."""
        if self.flag(option_string):
            return True
        if option_key(option_string) in self._plain_flags:
            return False
        return is_secret_name(option_string)

    def names(self):
        """The names structured data may carry these options under (argv keys, flags)."""
        return ({n if g == "DEFAULT" else "%s.%s" % (g, n)
                 for g, n in self.keys if g is not None} | self._flags)


def declared_secrets(conf, secret_keys=(), plain_keys=()):
    """:class:`DeclaredSecrets` of ``conf``'s registered options plus
    ``secret_keys`` and ``plain_keys``.

    Every ``secret=True`` option registered on ``conf`` (None: none) under
    its name, its dest and each deprecated name and group, and every other
    registered option as known not secret; ``secret_keys``/``plain_keys``:
    ``(group, name)`` of the secret/other options registered later
    (oslo.messaging's transport_url, keystonemiddleware ...), group None for
    any group.
    """
    keys = set(secret_keys)
    plain = set(plain_keys)
    if conf is not None:
        from safe_launch import validate
        for group, opt in validate.registered_opts(conf):
            if opt.secret:
                keys.update(((group, opt.dest), (group, opt.name)))
                keys.update((d.group or group, d.name or opt.dest) for d in opt.deprecated_opts)
            else:
                plain.update(((group, opt.dest), (group, opt.name)))
    return DeclaredSecrets(keys, plain)


def register_declared(masker, conf, argv=(), environ=None, file_sections=(), secret_keys=(),
                      plain_keys=(), declared=None):
    """Register with ``masker`` every secret the launch is given; call it first.

    Right after the service's options are registered (before the argv
    guard, the parse or validation can print anything): every value of every
    declared-secret option (:func:`declared_secrets` of ``conf`` and
    ``secret_keys``) and of every secret-looking name, from ``argv``,
    ``environ`` (``OS_<GROUP>__<OPT>``; default ``os.environ``) and each of
    ``file_sections`` (``{section: {key: [values]}}`` as read from a config
    file or a config-dir file), plus every URL password anywhere in them;
    each in all its :func:`quoted_forms`.  The declared options' names
    become secret keys for structured data.  ``conf`` None: heuristics only.
    Returns the :class:`DeclaredSecrets` used; ``declared``: that of an earlier call
    with the same options registered (it is built from nearly a thousand of them).
    """
    if declared is None:
        declared = declared_secrets(conf, secret_keys, plain_keys)
    values = (secret_values_from_argv(argv, declared)
              | secret_values_from_env(environ, declared))
    for sections in file_sections:
        values |= secret_values_from_sections(sections, declared)
    masker.declare_names(declared.names())
    masker.add_secrets(values)
    return declared


def register_launch(masker, spec, conf, argv, environ, records=()):
    """:func:`register_declared` for a launch of ``spec`` (and a reload): the
    secrets of ``argv``, ``environ`` and the accepted files ``records``, with
    the options ``spec``'s namespaces declare (``conf`` None: not loaded yet).
    The declared options are those of the last call until more are registered
    (a reload comes after the service's libraries registered theirs)."""
    from safe_launch import configfiles
    from safe_launch import validate
    options = (spec, conf, conf and len(validate.registered_opts(conf)))
    last, declared = masker.declared
    # the same ConfigOpts object (never ==: a Mapping compares every value)
    same = last is not None and last[0] == spec and last[1] is conf and last[2] == options[2]
    declared = register_declared(masker, conf, argv, environ, configfiles.sections_of(records),
                                 secret_keys=validate.known_secret_keys(spec),
                                 plain_keys=validate.known_plain_keys(spec),
                                 declared=declared if same else None)
    masker.declared = (options, declared)
    return declared


_NOTHING_DECLARED = DeclaredSecrets()


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _option_values(conf):
    """``(opt, value)`` for every registered option whose value can be read."""
    for name in list(conf):
        try:
            value = conf[name]
        except Exception:
            continue
        if isinstance(value, conf.GroupAttr):
            for opt_name in list(value):
                try:
                    # oslo.config has no public accessor for Opt objects.
                    opt = conf._get_opt_info(opt_name, name)["opt"]
                    yield opt, value[opt_name]
                except Exception:
                    continue
        else:
            try:
                yield conf._get_opt_info(name)["opt"], value
            except Exception:
                continue


@contextlib.contextmanager
def quiet_reads(loggers=("oslo_config.cfg",)):
    """Reading every value logs each deprecated name a $substitution uses, raw
    on stderr before oslo.log is set up: every full read of the options runs
    under this (the validate phase reports deprecated names itself).  Other
    ``loggers`` for other lookups whose failures the caller reports itself."""
    def drop(record):
        return False
    quiet = [logging.getLogger(name) for name in loggers]
    for logger in quiet:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in quiet:
            logger.removeFilter(drop)


def secret_values_from_conf(conf):
    """Secret values in an oslo.config ``ConfigOpts``.

    The values of ``secret=True`` options plus every URL password in any
    option value (``transport_url``, ``[database] connection`` ...).  Never
    raises: options whose value cannot be read are skipped.
    """
    with quiet_reads():
        values = list(_option_values(conf))
    return secret_values_of(values)


def secret_values_of(option_values):
    """:func:`secret_values_from_conf` of ``(opt, value)`` pairs already read (the
    validate phase reads every option once, for itself and for the masker)."""
    found = set()
    for opt, value in option_values:
        for text in _strings(value):
            if getattr(opt, "secret", False):
                found.add(text)
            found.update(url_passwords(text))
    return found


def secret_values_from_argv(argv, declared=_NOTHING_DECLARED):
    """Values given to secret options in ``argv`` and URL passwords in it.

    Secret options: ``declared`` (``--vault-approle-role-id``) or, unless
    known and not declared secret, secret-named (:meth:`DeclaredSecrets.flag_holds_secret`);
    both ``--opt=value`` and ``--opt value``; register them so that an echo
    of the value elsewhere (an error message) is masked too.
    """
    found = set()
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and declared.flag_holds_secret(name):
            if eq:
                found.add(value)
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                found.add(argv[i + 1])
        found.update(url_passwords(arg))
    return found


def secret_values_from_env(environ=None, declared=_NOTHING_DECLARED):
    """Secrets in the environment.

    The values of secret-named ``OS_*`` variables (``OS_PASSWORD``,
    ``OS_TOKEN``), of oslo.config's ``OS_<GROUP>__<OPT>`` when that option
    holds a secret (:meth:`DeclaredSecrets.holds_secret`:
    ``OS_DATABASE__CONNECTION``, but not
    ``OS_KEYSTONE_AUTHTOKEN__SERVICE_TOKEN_ROLES``), and the URL passwords
    in any variable.
    """
    found = set()
    for name, value in (os.environ if environ is None else environ).items():
        found.update(url_passwords(value))
        if name.startswith("OS_"):
            group, sep, option = name[3:].partition("__")
            if declared.holds_secret(group, option) if sep else is_secret_name(name):
                found.add(value)
    return found


def secret_values_from_sections(sections, declared=_NOTHING_DECLARED):
    """Secrets in the raw values of one config file, whether oslo.config can read them or not.

    ``sections``: ``{section: {key: [values]}}``.  URL passwords in every
    value; every value of a key that holds a secret
    (:meth:`DeclaredSecrets.holds_secret`: declared, deprecated names
    included, or secret-named and not a known option).
    """
    found = set()
    for section, keys in sections.items():
        for key, values in keys.items():
            secret = declared.holds_secret(section, key)
            for value in values:
                found.update(url_passwords(value))
                if secret:
                    found.add(value)
                found.update(_continued_secrets(section, value, declared))
    return found


def _continued_secrets(section, value, declared):
    """The values of ``name = value`` lines that an indentation made continuation lines.

    An indented ``password = x`` (or any option declared secret in any
    group) after ``report_interval = 10`` is part of that value, which an
    error then quotes: the line's value is a secret all the same.
    """
    found = set()
    for line in value.split("\n")[1:]:
        for sep in ("=", ":"):
            name, eq, rest = line.partition(sep)
            name = name.strip()
            if eq and rest.strip() and name and (
                    declared.holds_secret(section, name)
                    or any(option_key(name) == n for _, n in declared.keys)):
                found.add(rest.strip())
                break
    return found
