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
form, hence this module.  False positives are preferred to leaks: the value
of ``--password-file /path`` or ``private_key_file=/path`` is masked too, and
a bare ``password``/``secret``/``token`` word hides the word after it.
"""

import os
import re
import threading
import urllib.parse

MASK = "***"
MIN_SECRET_LENGTH = 4   # shorter registered values would mask ordinary text

_SUBSTRINGS = ("password", "passwd", "passphrase", "pswd", "secret", "token",
               "credential", "authorization", "apikey", "authkey")
_COMPONENTS = frozenset(("pass", "pwd", "key", "psk"))
_NOT_SECRET = frozenset(("keystone_authtoken",))      # a section name
_BARE_WORDS = "password|passwd|passphrase|pwd|secret|token"

# scheme://<authority>: the authority is masked up to its last "@", so an
# unencoded "@" (or "/") in a password is masked too.
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>[^\s]+)")
_USERINFO = re.compile(r"(?:^|(?<=,))(?P<user>[^:@,/]*):(?P<pw>.*?)@(?=[^@,]*(?:,|$))")
_KV = re.compile(r"""(?P<lq>["']?)(?P<name>-{0,2}[A-Za-z][\w.\-]*)(?P<nq>["']?)"""
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
    not a secret.
    """
    name = name.lower().lstrip("-")
    if name in _NOT_SECRET:
        return False
    if any(s in name for s in _SUBSTRINGS):
        return True
    words = [w for w in re.split(r"[^a-z0-9]+", name) if w]
    return bool(words) and (words[-1] == "connection"
                            or any(w in _COMPONENTS or w.endswith("pass") for w in words))


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


def _mask_pairs(text, pattern, accept, spaced_to_eol=False):
    """Mask the value after each ``pattern`` match whose name is accepted.

    With ``spaced_to_eol``, an unquoted value after a separator with spaces
    (``password = a b``) runs to the end of the line, else to the next space.
    """
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() < pos or not accept(m.group("name")):
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


def _is_secret_flag(item):
    return (isinstance(item, str) and item.startswith("-") and "=" not in item
            and is_secret_name(item))


class Masker:
    """Masks secrets: registered exact values plus the heuristics above.

    Thread-safe; ``Masker()`` is usable as the Emitter's ``mask`` callable.
    """

    def __init__(self):
        self._secrets = set()
        self._pattern = None
        self._lock = threading.Lock()

    def add_secret(self, value):
        """Mask every occurrence of ``value`` (and its URL-encoded form) from now on.

        Non-strings and values shorter than ``MIN_SECRET_LENGTH`` are ignored.
        """
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            self._secrets.update((value, urllib.parse.quote(value, safe="")))
            alternatives = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, alternatives)))

    def mask(self, value):
        """``value`` with every secret masked; containers are copied, not changed."""
        if isinstance(value, str):
            pattern = self._pattern
            return mask_text(pattern.sub(MASK, value) if pattern else value)
        if isinstance(value, dict):
            return {self.mask(k): _blank(v) if isinstance(k, str) and is_secret_name(k)
                    and not isinstance(v, dict) else self.mask(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            items = list(value)
            masked = [MASK if i and _is_secret_flag(items[i - 1]) and isinstance(item, str)
                      and not item.startswith("--") else self.mask(item)
                      for i, item in enumerate(items)]
            return masked if isinstance(value, list) else type(value)(masked)
        return value

    __call__ = mask


def mask(value):
    """Mask ``value`` with the heuristics only (no registered values)."""
    return _HEURISTICS.mask(value)


_HEURISTICS = Masker()


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


def secret_values_from_conf(conf):
    """Secret values in an oslo.config ``ConfigOpts``.

    The values of ``secret=True`` options plus every URL password in any
    option value (``transport_url``, ``[database] connection`` ...).  Never
    raises: options whose value cannot be read are skipped.
    """
    found = set()
    for opt, value in _option_values(conf):
        for text in _strings(value):
            if getattr(opt, "secret", False):
                found.add(text)
            found.update(url_passwords(text))
    return found


def secret_values_from_argv(argv):
    """Values given to secret-named options in ``argv`` and URL passwords in it.

    Both ``--opt=value`` and ``--opt value``; register them so that an echo of
    the value elsewhere (an error message) is masked too.
    """
    found = set()
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and is_secret_name(name):
            if eq:
                found.add(value)
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                found.add(argv[i + 1])
        found.update(url_passwords(arg))
    return found


def secret_values_from_env(environ=None):
    """Secrets in ``OS_*`` environment variables.

    The values of secret-named variables (``OS_PASSWORD``, ``OS_TOKEN``,
    oslo.config's ``OS_DATABASE__CONNECTION``) and URL passwords in any
    ``OS_*`` value.  Options declared secret are covered by
    :func:`secret_values_from_conf` wherever their value comes from.
    """
    found = set()
    for name, value in (os.environ if environ is None else environ).items():
        if name.startswith("OS_"):
            if is_secret_name(name):
                found.add(value)
            found.update(url_passwords(value))
    return found


_SUBSTITUTION = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<name>[\w.]+))")


def secret_values_from_files(records, conf=None):
    """Secrets in the raw values of config files, whether oslo.config can read them or not.

    URL passwords in every value; for keys that are secret-named or name an
    option of ``conf`` declared secret, the value and each ``$substitution``
    name in it (the part of a value oslo.config's errors quote).
    """
    from safe_launch import configfiles
    found = set()
    for record in records:
        if getattr(record, "kind", None) in configfiles.DIR_KINDS:
            continue
        try:
            sections = configfiles.read_sections(record)    # its checked bytes
        except (OSError, ValueError):
            continue
        for section, keys in sections.items():
            for key, values in keys.items():
                secret = is_secret_name(key) or _declared_secret(conf, section, key)
                for value in values:
                    found.update(url_passwords(value))
                    if secret:
                        found.add(value)
                        found.update(m.group("braced") or m.group("name")
                                     for m in _SUBSTITUTION.finditer(value))
    return found


def _declared_secret(conf, section, key):
    try:
        group = None if section == "DEFAULT" else section
        return bool(conf._get_opt_info(key, group)["opt"].secret)
    except Exception:           # no conf, unknown group or option
        return False
