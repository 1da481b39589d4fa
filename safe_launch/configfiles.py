"""File policy for every file the service reads configuration, code or secrets from.

:func:`files_to_check` lists them in the order oslo.config reads them (before
the parse), or as the option values name them (after the parse);
:func:`check_file` (through :func:`accept`) is the one place that decides
whether a file may be opened: it applies the policy, records the sha256 and
keeps the bytes it checked; :func:`serving` makes oslo.config parse exactly
those bytes (it opens nothing), and :func:`read_sections` gives every later
reader the same view, split into lines by :func:`split_lines` as oslo.config
splits them; :func:`verify_unchanged` proves after the parse that no checked
file changed on disk.

Rules (``file_policy``):

* every policy: a regular file (a directory for ``*-dir`` kinds): never a
  FIFO, socket, device, nor a file under /proc, /sys or /dev; at most
  :data:`MAX_SIZE` bytes of UTF-8 text without NUL bytes.  Nothing is opened
  before ``lstat`` says what it is, and it is opened with ``O_NONBLOCK`` and
  ``O_NOFOLLOW``, so a FIFO is refused at once, even if swapped in meanwhile.
* before the parse (:func:`accept` without a policy, or ``links``): the
  type rules, and a symlink only if it leads into the allowed directories,
  whatever the policy: a file is never read before its place is accepted.
* ``default``: owned by root or a trusted uid (the service user), not writable
  by group or others; a private key (``tls-key``) not readable by others; a
  symlink anywhere on the path only if the file it leads to is inside the
  allowed directories; and no directory on the path (through every symlink
  followed) writable by others, unless it is sticky, owned by a trusted uid
  and the entry looked up in it is owned by a trusted uid too: in a sticky
  directory (``chmod +t``, like /tmp) only the entry's owner, the
  directory's owner and root can rename, replace or delete the entry, so
  nobody else can swap it.  Group-writable directories are allowed.
* ``strict`` (the OpenStack security guide): as ``default``, and owned by
  root, group the service group (``trusted_gid``; root's group when None),
  mode 0640 or tighter (0750 for directories).
* ``off``: the type, size and content checks only.
"""

import ast
import contextlib
import dataclasses
import errno
import functools
import glob
import hashlib
import io
import os
import pwd
import stat

from oslo_config import cfg
from oslo_config import iniparser

from safe_launch.errors import ExitCode, LaunchError
from safe_launch import recordtype

MAX_SIZE = 4 * 2 ** 20
DEFAULT_ALLOWED_DIRS = ("/etc/safe_launch",)
POLICIES = ("default", "strict", "off")
DIR_KINDS = frozenset(("config-dir", "default-config-dir", "policy-dir"))
CONFIG_KINDS = frozenset(("config-file", "default-config-file", "config-dir-file"))
_OPEN_FLAGS = (os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
_PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
_MAX_LINKS = 40

# Options whose value is a file the service loads code or secrets from, read
# after the parse: (group, option, kind).  Besides these, every group's
# keystoneauth session files (cafile, certfile, keyfile) and oslo.policy's
# policy_file and policy_dirs.  Not listed: files of code paths the scheduler
# never runs (api-paste.ini, rootwrap.conf, vendordata, VNC/SPICE/console
# TLS, libvirt/vmware/zvm).
FILE_OPTIONS = (
    ("DEFAULT", "log_config_append", "log-config"),   # fileConfig() evaluates it
    ("oslo_messaging_rabbit", "ssl_key_file", "tls-key"),
    ("oslo_messaging_rabbit", "ssl_cert_file", "tls-cert"),
    ("oslo_messaging_rabbit", "ssl_ca_file", "tls-ca"),
    ("cache", "tls_keyfile", "tls-key"),
    ("cache", "tls_certfile", "tls-cert"),
    ("cache", "tls_cafile", "tls-ca"),
)
_SESSION_FILES = (("keyfile", "tls-key"), ("certfile", "tls-cert"), ("cafile", "tls-ca"))


class FileRecord(recordtype.Frozen):
    """One checked file, with what was found and every problem.

    ``sha256`` is the digest of its bytes (of its sorted listing for a
    directory), None when it could not be read.  ``content``: the bytes that
    were checked, for :func:`read_sections` and the parse; kept out of the
    fields (so out of repr, asdict, comparisons and the audit trail): a
    config file holds secrets.
    """

    path: str
    realpath: str
    kind: str
    sha256: str = None
    size: int = None
    mode: int = None
    uid: int = None
    gid: int = None
    inode: int = None
    device: int = None
    mtime_ns: int = None
    problems: tuple = ()
    content: dataclasses.InitVar[bytes] = None

    def __post_init__(self, content):
        object.__setattr__(self, "_content", content)
        object.__setattr__(self, "_parsed", None)
        object.__setattr__(self, "_calls", None)

    @property
    def ok(self):
        return not self.problems


def _fixpath(path, environ):
    """oslo.config's ``_fixpath`` (abspath of expanduser), with ``environ``'s HOME."""
    if path == "~" or path.startswith("~/"):
        home = environ["HOME"] if "HOME" in environ else pwd.getpwuid(os.getuid()).pw_dir
        path = (home.rstrip("/") + path[1:]) or "/"      # as posixpath.expanduser
    return os.path.abspath(os.path.expanduser(path))


def _find(project, prog, extension, environ):
    """``cfg.find_config_files``/``find_config_dirs`` with ``environ``."""
    snap, snap_common = environ.get("SNAP"), environ.get("SNAP_COMMON")
    dirs = [_fixpath("~/." + project, environ) if project else None,
            _fixpath("~", environ),
            os.path.join("/etc", project) if project else None,
            "/etc",
            os.path.join(snap_common, "etc", project) if snap_common and project else None,
            os.path.join(snap, "etc", project) if snap and project else None]
    found = []
    for name in (project, prog):
        for d in dirs:
            if name and d and os.path.exists(os.path.join(d, name + extension)):
                found.append(os.path.join(d, name + extension))
                break
    return found


def _dir_confs(directory):
    """The files oslo.config reads from a config dir, in its order."""
    return sorted(glob.glob(os.path.join(directory, "*.conf")))


def files_to_check(argv_decision, project, prog, environ, conf=None, records=None):
    """``[(path, kind)]`` of the files to check, in the order they are read.

    Without ``conf``: what the parse will read.  The default config files
    and dirs (``<project>.conf``, ``<prog>.conf`` and ``.conf.d`` in ~/.<project>,
    ~, /etc/<project>, /etc, $SNAP...) unless ``--config-file`` (resp.
    ``--config-dir``) is given, then each ``--config-file`` and
    ``--config-dir`` (the directory, then its ``*.conf``) in argv order.

    With the parsed ``conf``: the files option values make the service load
    (:data:`FILE_OPTIONS`, keystoneauth session files, the policy file and
    dirs as oslo.policy finds them).  Options not registered yet (e.g.
    [oslo_messaging_rabbit] before ``rpc.init``) are read from the
    environment and ``records`` (the checked config files the parse read;
    by default accepted here as before the parse) as oslo.config would
    (deprecated names aside).  Only log_config_append is listed when it does
    not exist: it is loaded for sure; the others are loaded only when used.
    """
    if conf is not None:
        if records is None:
            records = [accept(path, kind, None, argv_decision, environ) for path, kind
                       in files_to_check(argv_decision, project, prog, environ)]
        return _option_files(conf, records, environ)
    items = []
    given = argv_decision.config_args
    if not any(key == "config_file" for key, _ in given):
        items += [(p, "default-config-file") for p in _find(project, prog, ".conf", environ)]
    if not any(key == "config_dir" for key, _ in given):
        for d in _find(project, prog, ".conf.d", environ):
            items += [(d, "default-config-dir")] + [(f, "config-dir-file") for f in _dir_confs(d)]
    for key, value in given:
        path = _fixpath(value, environ)
        if key == "config_file":
            items.append((path, "config-file"))
        else:
            items += [(path, "config-dir")] + [(f, "config-dir-file") for f in _dir_confs(path)]
    return items


def _option_files(conf, records, environ):
    wanted = list(FILE_OPTIONS)
    # ConfigOpts lists its groups only privately (``_groups``); iterating the
    # public mapping would evaluate every [DEFAULT] value.
    for group in sorted(conf._groups):
        wanted += [(group, name, kind) for name, kind in _SESSION_FILES if name in conf[group]]
    items = []
    for group, name, kind in wanted:
        value = _value(conf, group, name, records, environ)
        if value and (kind == "log-config" or os.path.lexists(value)):
            items.append((os.path.abspath(value), kind))
    policy_file = _value(conf, "oslo_policy", "policy_file", records, environ)
    policy_dirs = _value(conf, "oslo_policy", "policy_dirs", records, environ)
    found = conf.find_file(policy_file) if policy_file else None
    if found:
        items.append((os.path.abspath(found), "policy-file"))
    for d in policy_dirs if isinstance(policy_dirs, list) else (policy_dirs or "").split(","):
        found = conf.find_file(d.strip()) if d.strip() else None
        if found and os.path.isdir(found):
            names = sorted(next(os.walk(found))[2])     # oslo.policy's own listing
            items += [(os.path.abspath(found), "policy-dir")] + [
                (os.path.join(os.path.abspath(found), n), "policy-file")
                for n in names if not n.startswith(".")]
    return items


def _value(conf, group, name, records, environ):
    """A registered option's value, else its raw value (env, then last file)."""
    attrs = conf if group == "DEFAULT" else (conf[group] if group in conf else None)
    if attrs is not None and name in attrs:
        try:
            return attrs[name]
        except (cfg.Error, ValueError):
            return None     # a bad value: validate.eager_check reports it
    value, _ = raw_value(records, group, name, environ)
    if value is None and group == "oslo_policy":
        from oslo_policy import opts as policy_opts      # oslo_config only: safe
        defaults = {o.dest: o.default for _, opts in policy_opts.list_opts() for o in opts}
        value = defaults.get(name)
    return value


class FileRefused(ValueError):
    """A file the parse or a reader may not read: one line naming it and the rule."""

    def __init__(self, path, message):
        self.path = path
        self.reason = message[len(path) + 1:].lstrip() if message.startswith(path + ":") \
            else message
        super().__init__("%s: %s" % (path, self.reason))


class FileParseError(FileRefused):
    """A file oslo.config's parser refuses: its file, line number and reason.

    Never the line itself (oslo.config's ParseError quotes it): it can hold a
    token or a secret no masking heuristic recognises.
    """

    def __init__(self, path, lineno, reason):
        super().__init__(path, "line %d: %s" % (lineno, reason))
        self.lineno = lineno


def split_lines(data):
    """The one line splitter: the lines oslo.config's ``open(path).readlines()`` gives.

    Universal newlines: a line ends at \\n, \\r\\n or \\r only (str.splitlines()
    would also break at \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029, hiding a
    key in a section oslo.config does not see); UTF-8, a BOM kept as it keeps it.
    """
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None).readlines()


def _parse_into(parser, record):
    """Feed ``record``'s checked bytes to oslo.config's ``parser`` (a cfg.ConfigParser)."""
    if not isinstance(record, FileRecord):
        raise FileRefused(parser.filename, "not checked before the parse (appeared after "
                          "the file check?): refused, only checked files are read")
    if record.problems:
        raise FileRefused(record.path, record.problems[0])
    if record._content is None:
        raise FileRefused(record.path, "is %s: no configuration to parse" % (
            "a directory" if record.kind in DIR_KINDS else "not readable"))
    try:
        iniparser.BaseParser.parse(parser, split_lines(record._content))
    except iniparser.ParseError as exc:
        raise FileParseError(record.path, exc.lineno, exc.msg) from None
    except UnicodeDecodeError as exc:
        raise FileRefused(record.path, "not UTF-8 text (byte %d)" % exc.start) from None


class _Recording(cfg.ConfigParser):
    """oslo.config's own parser, keeping the calls its parse makes (a section
    begins, a key is assigned), in file order, to replay them into the
    parser of the ``CONF(...)`` call: each file is parsed once per launch."""

    def __init__(self, filename, sections):
        super().__init__(filename, sections)
        self.calls = []

    def new_section(self, section):
        super().new_section(section)
        self.calls.append((section, None))

    def assignment(self, key, value):
        super().assignment(key, value)
        self.calls.append((key, list(value)))


def read_sections(source):
    """``{section: {key: [values]}}`` of one checked file, as oslo.config parses it.

    ``source``: a :class:`FileRecord` (its checked bytes: the path is never
    reopened), or a path, first checked with the type rules (:func:`check_file`,
    policy off).  Raises :class:`FileRefused` (a ValueError: a refused or
    unparsable file, never quoting a line).  The result is shared: do not
    change it.
    """
    record = source
    if not isinstance(record, FileRecord):
        record = check_file(source, "config-file", "off")
    if record._parsed is None:
        sections = {}
        recording = _Recording(record.path, sections)
        try:
            _parse_into(recording, record)
        except FileRefused as exc:
            sections = exc
        object.__setattr__(record, "_calls", recording.calls)
        object.__setattr__(record, "_parsed", sections)     # parsed once per record
    if isinstance(record._parsed, FileRefused):
        raise record._parsed
    return record._parsed


@contextlib.contextmanager
def serving(records):
    """While inside, oslo.config parses each file from its record: it opens none.

    ``cfg.ConfigParser.parse`` (oslo.config 10.x: ``open(self.filename)``
    and ``readlines()``) is replaced, for the one ``CONF(...)`` call, by the
    parse of the bytes :func:`check_file` read from the descriptor it
    checked: the file the service runs on is the file that was judged,
    whatever is renamed over it meanwhile.  A file with no record (a
    ``*.conf`` that appeared in a config dir after the check) is refused.
    The parse runs on one thread (the launch, or the reload check in the
    master), so the class attribute is swapped and restored around it.
    """
    by_path = {r.path: r for r in records if r.kind not in DIR_KINDS}

    def parse(parser):
        record = by_path.get(os.path.abspath(parser.filename))
        if not isinstance(record, FileRecord):
            _parse_into(parser, record)         # refuses it
        read_sections(record)       # parsed once: raises its refusal or parse error
        for name, value in record._calls:
            if value is None:
                parser.new_section(name)
            else:
                parser.assignment(name, value)

    original = cfg.ConfigParser.parse
    cfg.ConfigParser.parse = parse
    try:
        yield
    finally:
        cfg.ConfigParser.parse = original


def sections_of(records):
    """``{section: {key: [values]}}`` of each config file of ``records`` that parses.

    From the checked bytes; a file that does not parse is the parse's to report.
    """
    for record in records:
        if record.kind in DIR_KINDS:
            continue
        try:
            yield read_sections(record)
        except (OSError, ValueError):
            continue


def env_name(group, option):
    """The environment variable oslo.config reads ``option`` of ``group`` from."""
    return "OS_%s__%s" % ((group or "DEFAULT").upper(), option.upper())


def raw_value(files, section, key, environ=None):
    """``(value, path)``: the last raw value of ``key`` in ``section`` across ``files``.

    As oslo.config would take it from the files (the last one wins; section
    names other than DEFAULT match case-insensitively), before any parse:
    no type, no ``$substitution``.  ``(None, None)`` when no file sets it.
    ``files``: FileRecords (their checked bytes), or paths (see
    :func:`read_sections`).  With ``environ``, its ``OS_<SECTION>__<KEY>``
    comes first, as in oslo.config: ``(value, variable name)``.
    """
    env = env_name(section, key)
    if environ is not None and env in environ:
        return environ[env], env
    value = source = None
    want = section if section == "DEFAULT" else section.lower()
    for record in files:
        if getattr(record, "kind", None) in DIR_KINDS:
            continue
        try:
            sections = read_sections(record)
        except ValueError:
            continue        # refused or unparsable: reported by the file check or the parse
        for name, keys in sections.items():
            if (name if name == "DEFAULT" else name.lower()) == want and key in keys:
                value, source = keys[key][-1], getattr(record, "path", record)
    return value, source


def allowed_dirs(argv_decision, environ, config_dirs=()):
    """Where symlinks may lead, for :func:`check_file`.

    The service's own ``config_dirs`` (its spec's: /etc/nova, /etc/cinder),
    /etc/safe_launch and the directories the operator named: that of each
    --config-file and each --config-dir.
    """
    named = [os.path.dirname(_fixpath(v, environ)) if key == "config_file"
             else _fixpath(v, environ) for key, v in argv_decision.config_args]
    return tuple(dict.fromkeys(list(config_dirs) + list(DEFAULT_ALLOWED_DIRS) + named))


def _resolve(path):
    """Resolve ``path`` as the kernel does, one lstat per component.

    Returns (real path, [(directory, entry path, entry lstat)] for every
    lookup, symlinks followed).  Raises OSError (ENOENT, ENOTDIR, ELOOP...).
    """
    pending = path.split("/")[::-1]
    real, lookups, links = "/", [], []
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            real = os.path.dirname(real)
            continue
        entry = os.path.join(real, name)
        st = os.lstat(entry)
        lookups.append((real, entry, st))
        if not stat.S_ISLNK(st.st_mode):
            real = entry
            continue
        links.append(entry)
        if len(links) > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        target = os.readlink(entry)
        pending.extend(target.split("/")[::-1])
        if target.startswith("/"):
            real = "/"
    return real, lookups, links


def _type_name(mode):
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"),
                       (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


@functools.lru_cache(maxsize=1)
def _pseudo_devices():
    """Devices of /proc, /sys and /dev (also mounted elsewhere), unless not mounted."""
    devices = set()
    for root in _PSEUDO_ROOTS:
        try:
            devices.add(os.stat(root).st_dev)
        except OSError:
            pass
    return devices - {os.stat("/").st_dev}


def _inside(path, directories):
    for d in directories:
        d = os.path.realpath(d)
        if os.path.commonpath([path, d]) == d:
            return True
    return False


def _link_problems(path, links, real, allowed):
    if links and not _inside(real, allowed):
        return ["%s: reached through symlink %s, leads to %s outside the allowed "
                "directories (%s)" % (path, links[0], real, ", ".join(allowed))]
    return []


def _path_problems(path, lookups, trusted):
    problems = []
    seen = set()
    for directory, entry, st in lookups:
        if directory in seen:
            continue
        seen.add(directory)
        dst = os.lstat(directory)
        if not dst.st_mode & stat.S_IWOTH:
            continue
        if not dst.st_mode & stat.S_ISVTX:
            problems.append("%s: directory %s is writable by others (mode %04o): anyone can "
                            "replace %s" % (path, directory, stat.S_IMODE(dst.st_mode), entry))
        elif dst.st_uid not in trusted or st.st_uid not in trusted:
            problems.append("%s: directory %s is writable by others and sticky, but it or %s "
                            "is not owned by root or the service user" % (path, directory, entry))
    return problems


def _owner_problems(path, kind, st, policy, trusted, trusted_gid):
    mode = stat.S_IMODE(st.st_mode)
    problems = []
    if st.st_uid not in trusted:
        problems.append("%s: owned by uid %d, not by root or the service user"
                        % (path, st.st_uid))
    if mode & 0o022:
        problems.append("%s: writable by group or others (mode %04o): whoever can write it "
                        "controls the service" % (path, mode))
    if kind == "tls-key" and mode & 0o004:
        problems.append("%s: private key readable by others (mode %04o)" % (path, mode))
    if policy == "strict":
        limit = 0o750 if stat.S_ISDIR(st.st_mode) else 0o640
        group = 0 if trusted_gid is None else trusted_gid
        if st.st_uid != 0 or st.st_gid != group:
            problems.append("%s: strict policy: must be owned by root:%d (is %d:%d)"
                            % (path, group, st.st_uid, st.st_gid))
        if mode & ~limit:
            problems.append("%s: strict policy: mode %04o is wider than %04o"
                            % (path, mode, limit))
    return problems


def _read(fd):
    chunks, total = [], 0
    while total <= MAX_SIZE:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _digest(fd, st):
    """(sha256, content bytes) of a file; of its sorted listing for a directory."""
    if stat.S_ISDIR(st.st_mode):
        data = "\n".join(sorted(os.listdir(fd))).encode("utf-8", "surrogateescape")
        return hashlib.sha256(data).hexdigest(), None
    data = _read(fd)
    return hashlib.sha256(data).hexdigest(), data


def _open(real, kind):
    return os.open(real, _OPEN_FLAGS | (os.O_DIRECTORY if kind in DIR_KINDS else 0))


def _unreachable(path, exc, want_dir):
    """Why ``path`` cannot be checked, saying what it is when only the kernel reaches it.

    /proc's magic links lead to no path (/dev/stdin -> /proc/self/fd/0 ->
    ``pipe:[1234]``), so their lookup fails where stat(), which opens
    nothing, still says what the file is.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return "%s: cannot be read: %s" % (path, getattr(exc, "strerror", None) or exc)
    return "%s: is %s, not %s" % (path, _type_name(st.st_mode),
                                  "a directory" if want_dir else "a regular file") \
        if stat.S_IFMT(st.st_mode) != (stat.S_IFDIR if want_dir else stat.S_IFREG) \
        else "%s: reached through a link that leads to no path (%s)" % (path, exc.strerror)


def check_file(path, kind, policy="default", trusted_uids=(0,), trusted_gid=None,
               allowed_dirs=None, links=None):
    """Apply ``policy`` to ``path`` (kind from :func:`files_to_check`); never blocks.

    ``trusted_uids``: owners allowed besides root.  ``allowed_dirs``: where a
    symlink may lead (default :data:`DEFAULT_ALLOWED_DIRS`); ``links``:
    whether that rule applies (default: unless ``policy`` is "off").  The
    record keeps the bytes read from the descriptor it checked.
    """
    if policy not in POLICIES:
        raise ValueError("unknown file policy %r" % policy)
    path = os.path.abspath(path)
    trusted = set(trusted_uids) | {0}
    allowed = tuple(allowed_dirs or DEFAULT_ALLOWED_DIRS)
    want_dir = kind in DIR_KINDS
    try:
        real, lookups, followed = _resolve(path)
        st = os.lstat(real)
    except (OSError, ValueError) as exc:        # ValueError: a NUL in the path
        return FileRecord(path, path, kind, problems=(_unreachable(path, exc, want_dir),))
    record = functools.partial(FileRecord, path, real, kind, size=st.st_size,
                               mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, inode=st.st_ino,
                               device=st.st_dev, mtime_ns=st.st_mtime_ns)
    expected = stat.S_ISDIR if want_dir else stat.S_ISREG
    if not expected(st.st_mode):
        return record(problems=("%s: is %s, not %s" % (
            path, _type_name(st.st_mode), "a directory" if want_dir else "a regular file"),))
    if st.st_dev in _pseudo_devices() or any(real == r or real.startswith(r + "/")
                                             for r in _PSEUDO_ROOTS):
        return record(problems=("%s: %s is on a pseudo file system (/proc, /sys, /dev)"
                                % (path, real),))
    if links or (links is None and policy != "off"):
        problems = _link_problems(path, followed, real, allowed)
        if problems:            # not opened: where it leads is not accepted
            return record(problems=tuple(problems))
    problems = _path_problems(path, lookups, trusted) if policy != "off" else []
    try:
        fd = _open(real, kind)
    except OSError as exc:
        return record(problems=tuple(problems) + ("%s: cannot be opened: %s"
                                                  % (path, exc.strerror),))
    try:
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not expected(fst.st_mode):
            return record(problems=("%s: replaced while being checked" % path,))
        if policy != "off":
            problems += _owner_problems(path, kind, fst, policy, trusted, trusted_gid)
        if not want_dir and fst.st_size > MAX_SIZE:
            return record(problems=tuple(problems) + ("%s: %d bytes, more than the limit of %d"
                                                      % (path, fst.st_size, MAX_SIZE),))
        digest, data = _digest(fd, fst)
    finally:
        os.close(fd)
    content_problem = data is not None and (_content_problem(path, data)
                                            or _kind_problem(path, kind, data))
    if content_problem:
        problems.append(content_problem)
    return record(sha256=digest, size=len(data) if data is not None else fst.st_size,
                  mode=fst.st_mode, uid=fst.st_uid, gid=fst.st_gid, mtime_ns=fst.st_mtime_ns,
                  problems=tuple(problems), content=None if content_problem else data)


def _content_problem(path, data):
    """Why ``data`` is not a config file's text, or None."""
    if len(data) > MAX_SIZE:
        return "%s: grew beyond %d bytes while being read" % (path, MAX_SIZE)
    if b"\0" in data:
        return "%s: binary content (NUL bytes), not a text file" % path
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "%s: not UTF-8 text (byte %d)" % (path, exc.start)
    return None


def _kind_problem(path, kind, data):
    """Why a file of ``kind`` would be refused by what loads it, or None (checked text)."""
    if kind == "log-config":
        return _log_config_problem(path, data.decode("utf-8"))
    return None


# The options fileConfig reads with interpolation, by section (name before "_");
# a formatter's format, datefmt, style and defaults are read raw.
_FILECONFIG_READS = {
    "loggers": ("keys",), "handlers": ("keys",), "formatters": ("keys",),
    "handler": ("class", "formatter", "args", "kwargs", "level", "target"),
    "logger": ("level", "handlers", "qualname", "propagate"),
    "formatter": ("class",),
}


def _log_config_problem(path, text):
    """Why ``logging.config.fileConfig`` (oslo.log's loader) would refuse ``text``.

    Judged here, on every path (launch, reload, ``check``), from the checked
    bytes: the parse as fileConfig parses (``configparser.ConfigParser()``,
    its interpolation included), the sections and keys it looks up, and each
    ``class`` a name it can resolve.  Otherwise the service fails while it is
    created (exit 70 or 69, not 78) with configparser's message, which quotes
    the offending line or raw value: a line of this file can hold anything.
    So this names the file, the line or section and the rule, never a value.
    """
    import configparser
    import importlib.util
    import logging
    cp = configparser.ConfigParser()
    try:
        cp.read_string(text, source=path)
    except configparser.DuplicateSectionError as exc:
        return "%s: line %s: section [%s] given twice" % (path, exc.lineno, exc.section)
    except configparser.DuplicateOptionError as exc:
        return "%s: line %s: [%s] %s given twice" % (path, exc.lineno, exc.section, exc.option)
    except configparser.MissingSectionHeaderError as exc:
        return "%s: line %s: a logging configuration starts with a [section]" % (
            path, exc.lineno)
    except configparser.ParsingError as exc:
        return "%s: line %s: not a 'name = value' line (logging configuration)" % (
            path, ", ".join(str(lineno) for lineno, _ in exc.errors[:5]))
    except configparser.Error as exc:
        return "%s: not a logging configuration (%s)" % (path, type(exc).__name__)
    for section in cp.sections():
        read = _FILECONFIG_READS.get(section.split("_")[0] if "_" in section else section, ())
        for option in set(cp.options(section)) & set(read):
            try:
                cp.get(section, option)
            except configparser.Error as exc:       # its message quotes the raw value
                return "%s: [%s] %s: bad %%(name)s interpolation (%s)" % (
                    path, section, option, type(exc).__name__)
    for section in ("loggers", "handlers", "formatters"):
        if not cp.has_option(section, "keys"):
            return "%s: no [%s] keys (logging.config.fileConfig needs it)" % (path, section)

    def names(section):
        return [n.strip() for n in cp.get(section, "keys").split(",") if n.strip()]
    if "root" not in names("loggers") or not cp.has_section("logger_root"):
        return "%s: [loggers] keys: no root logger with its [logger_root] section" % path
    for kind, listed in (("formatter", names("formatters")), ("handler", names("handlers")),
                         ("logger", names("loggers"))):
        for name in listed:
            section = "%s_%s" % (kind, name)
            if not cp.has_section(section):
                return "%s: [%ss] keys: no [%s] section" % (path, kind, section)
            if kind == "handler" and not cp.has_option(section, "class"):
                return "%s: [%s]: no class" % (path, section)
            klass = cp.get(section, "class", fallback="").strip()
            top = klass.split(".")[0]
            if klass and not (klass.replace(".", "").replace("_", "").isalnum()
                              and (top in vars(logging) or importlib.util.find_spec(top))):
                return "%s: [%s] class: no such class (not in logging, no such module)" % (
                    path, section)
            for option in ("args", "kwargs") if kind == "handler" else ():
                try:        # parsed, never evaluated: fileConfig evaluates it
                    ast.parse(cp.get(section, option, fallback="()"), mode="eval")
                except (SyntaxError, ValueError):
                    return "%s: [%s] %s: not a Python expression" % (path, section, option)
            if kind == "logger" and not cp.has_option(section, "handlers"):
                return "%s: [%s]: no handlers" % (path, section)
            if kind == "logger" and name != "root" and not cp.has_option(section, "qualname"):
                return "%s: [%s]: no qualname" % (path, section)
            refs = {"logger": ("handlers", "handlers"), "handler": ("formatter", "formatters")}
            option, among = refs.get(kind, (None, None))
            for ref in cp.get(section, option, fallback="").split(",") if option else ():
                if ref.strip() and ref.strip() not in names(among):
                    return "%s: [%s] %s: names one not in [%s] keys" % (
                        path, section, option, among)
    return None


def log_output_problems(conf, binary, trusted):
    """Why oslo.log could not open the log file ``conf`` names, would block opening
    it, or would write where someone else chose.

    ``[DEFAULT] log_file`` and ``log_dir`` as oslo.log joins them (``log_dir``
    alone: ``<binary>.log`` in it).  Judged on every path (launch, reload,
    ``check``): a missing or non-directory parent, a directory as the file
    (the create step failed with 71, a configuration error), a FIFO that
    nobody reads (oslo.log's open() for writing blocked the launch forever),
    and the outputs' rule of :func:`parent_problems` with ``trusted`` uids:
    oslo.log follows symlinks, so whoever can put one in the log's place
    (a directory others can write, another user's entry in /tmp) chooses
    which file the service appends to.  A FIFO with a reader (/dev/stdout on
    a pipe) is fine.
    """
    try:
        log_file, log_dir = conf.log_file, conf.log_dir
    except Exception:           # an invalid value: eager_check reports it
        return []
    if not log_file and not log_dir:
        return []
    path = os.path.join(log_dir, log_file) if log_file and log_dir else \
        log_file or os.path.join(log_dir, binary + ".log")
    option = "--log-file" if log_file else "--log-dir"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return ["%s: %s: its directory %s %s" % (option, path, parent, "is not a directory"
                                                 if os.path.lexists(parent) else "does not exist")]
    problems = list(parent_problems(path, trusted))
    if problems:
        return ["%s: %s" % (option, p) for p in problems]
    try:
        st = os.stat(path)
    except OSError:
        return []               # created by oslo.log
    if stat.S_ISDIR(st.st_mode):
        return ["%s: %s: is a directory, not a log file" % (option, path)]
    if stat.S_ISFIFO(st.st_mode):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        except OSError:         # ENXIO: no reader, oslo.log would wait for one forever
            return ["%s: %s: is a FIFO nobody reads: writing the log would block the "
                    "service" % (option, path)]
    return []


def service_account(user):
    """(uid, gid) of ``[safe_launch] service_user``; (None, None) when unset."""
    if not user:
        return None, None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LaunchError(ExitCode.CONFIG, "[safe_launch] service_user: no such user %r" % user)
    return entry.pw_uid, entry.pw_gid


def trusted_uids(service_user):
    """Who may own what the service reads: root and the service user (else our euid)."""
    uid = service_account(service_user)[0]
    return (0, os.geteuid() if uid is None else uid)


def accept(path, kind, policy, guard, environ, service_user=None, links=None, config_dirs=()):
    """:func:`check_file` with the launch's trust: the one call every path makes.

    ``policy`` None: before the launch's parse, when the policy is not known
    yet: the type rules and where symlinks lead (``links``), trusting root
    and our euid.  After it, ``policy`` with root and ``service_user``
    (group: its group, for ``strict``).  Symlinks may lead into the
    directories :func:`allowed_dirs` names (``config_dirs``: the spec's).
    """
    if policy is None:
        policy, links = "off", True
    trusted_gid = service_account(service_user)[1] if service_user else None
    return check_file(path, kind, policy, trusted_uids=trusted_uids(service_user),
                      trusted_gid=trusted_gid,
                      allowed_dirs=allowed_dirs(guard, environ, config_dirs),
                      links=links)


def parent_problems(path, trusted):
    """Problems of the directories leading to ``path`` (which may not exist yet).

    The rule config files get: no directory on the way (symlinks followed)
    writable by others unless sticky and owned, with its entry, by a trusted
    uid.  For outputs such as the audit trail, which whoever can replace
    the directory's entries could delete or swap.
    """
    path = os.path.abspath(path)
    try:
        real, lookups, _ = _resolve(os.path.dirname(path))
        entry = os.path.join(real, os.path.basename(path))
        try:
            st = os.lstat(entry)
        except FileNotFoundError:       # created by us: judged by its directory alone
            st = os.lstat(real)
    except OSError:
        return ()           # a missing directory is created by its writer
    return tuple(_path_problems(path, lookups + [(real, entry, st)], set(trusted) | {0}))


def problems_of(records):
    """Every problem of ``records`` as ``(text, {"file": path})``; each names its file once."""
    return [(p if p.startswith(r.path + ":") else "%s: %s" % (r.path, p), {"file": r.path})
            for r in records for p in r.problems]


def as_record(record):
    """What the audit trail says of one checked file."""
    return {"path": record.path, "kind": record.kind, "sha256": record.sha256,
            "uid": record.uid, "gid": record.gid,
            "mode": None if record.mode is None else "%04o" % (record.mode & 0o7777)}


def verify_unchanged(records):
    """Problems for every checked file that changed since it was checked.

    Re-resolves each path and re-reads each file (same real path, inode,
    size and sha256), after the parse: what was checked is what was loaded.
    A file changed and changed back in between goes unnoticed, which needs
    write access the policy already refused to others.
    """
    problems = []
    for rec in records:
        if rec.sha256 is None:
            continue
        try:
            if os.path.realpath(rec.path) != rec.realpath:
                problems.append("%s: now leads to %s, not %s"
                                % (rec.path, os.path.realpath(rec.path), rec.realpath))
                continue
            fd = _open(rec.realpath, rec.kind)
            try:
                st = os.fstat(fd)
                if stat.S_IFMT(st.st_mode) != stat.S_IFMT(rec.mode):
                    problems.append("%s: is now %s" % (rec.path, _type_name(st.st_mode)))
                    continue
                if (st.st_dev, st.st_ino) != (rec.device, rec.inode):
                    problems.append("%s: replaced by another file (inode %d, was %d)"
                                    % (rec.path, st.st_ino, rec.inode))
                    continue
                digest, data = _digest(fd, st)
            finally:
                os.close(fd)
        except OSError as exc:
            problems.append("%s: cannot be re-read: %s" % (rec.path, exc.strerror or exc))
            continue
        size = len(data) if data is not None else st.st_size
        if size != rec.size or digest != rec.sha256:
            problems.append("%s: changed while it was loaded (size %d, was %d; sha256 %s, was %s)"
                            % (rec.path, size, rec.size, digest[:12], rec.sha256[:12]))
    return tuple(problems)
