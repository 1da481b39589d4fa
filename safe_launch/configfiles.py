"""File policy for every file the service reads configuration, code or secrets from.

:func:`files_to_check` lists them in the order oslo.config reads them (before
the parse), or as the option values name them (after the parse);
:func:`check_file` applies the policy to one and records its sha256;
:func:`verify_unchanged` proves after the parse that no checked file changed.

Rules (``file_policy``):

* every policy: a regular file (a directory for ``*-dir`` kinds): never a
  FIFO, socket, device, nor a file under /proc, /sys or /dev; at most
  :data:`MAX_SIZE` bytes of UTF-8 text without NUL bytes.  Nothing is opened
  before ``lstat`` says what it is, and it is opened with ``O_NONBLOCK`` and
  ``O_NOFOLLOW``, so a FIFO is refused at once, even if swapped in meanwhile.
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

import dataclasses
import errno
import functools
import glob
import hashlib
import os
import pwd
import stat

from oslo_config import cfg
from oslo_config import iniparser

from safe_launch.errors import ExitCode, LaunchError

MAX_SIZE = 4 * 2 ** 20
DEFAULT_ALLOWED_DIRS = ("/etc/nova", "/etc/safe_launch")
POLICIES = ("default", "strict", "off")
DIR_KINDS = frozenset(("config-dir", "default-config-dir", "policy-dir"))
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


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """One checked file, with what was found and every problem.

    ``sha256`` is the digest of its bytes (of its sorted listing for a
    directory), None when it could not be read.
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


def files_to_check(argv_decision, project, prog, environ, conf=None):
    """``[(path, kind)]`` of the files to check, in the order they are read.

    Without ``conf``: what the parse will read.  The default config files
    and dirs (``<project>.conf``, ``<prog>.conf`` and ``.conf.d`` in ~/.nova,
    ~, /etc/nova, /etc, $SNAP...) unless ``--config-file`` (resp.
    ``--config-dir``) is given, then each ``--config-file`` and
    ``--config-dir`` (the directory, then its ``*.conf``) in argv order.

    With the parsed ``conf``: the files option values make the service load
    (:data:`FILE_OPTIONS`, keystoneauth session files, the policy file and
    dirs as oslo.policy finds them).  Options not registered yet (e.g.
    [oslo_messaging_rabbit] before ``rpc.init``) are read from the
    environment and the config files as oslo.config would (deprecated names
    aside).  Only log_config_append is listed when it does not exist: it is
    loaded for sure; the others are loaded only when used.
    """
    if conf is not None:
        return _option_files(conf, files_to_check(argv_decision, project, prog, environ),
                             environ)
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


def _option_files(conf, config_files, environ):
    paths = [p for p, kind in config_files if kind not in DIR_KINDS]
    wanted = list(FILE_OPTIONS)
    # ConfigOpts lists its groups only privately (``_groups``); iterating the
    # public mapping would evaluate every [DEFAULT] value.
    for group in sorted(conf._groups):
        wanted += [(group, name, kind) for name, kind in _SESSION_FILES if name in conf[group]]
    items = []
    for group, name, kind in wanted:
        value = _value(conf, group, name, paths, environ)
        if value and (kind == "log-config" or os.path.lexists(value)):
            items.append((os.path.abspath(value), kind))
    policy_file = _value(conf, "oslo_policy", "policy_file", paths, environ)
    policy_dirs = _value(conf, "oslo_policy", "policy_dirs", paths, environ)
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


def _value(conf, group, name, paths, environ):
    """A registered option's value, else its raw value (env, then last file)."""
    attrs = conf if group == "DEFAULT" else (conf[group] if group in conf else None)
    if attrs is not None and name in attrs:
        try:
            return attrs[name]
        except (cfg.Error, ValueError):
            return None     # a bad value: validate.eager_check reports it
    env = "OS_%s__%s" % (group.upper(), name.upper())
    if env in environ:
        return environ[env]
    if group == "oslo_policy":
        from oslo_policy import opts as policy_opts      # oslo_config only: safe
        defaults = {o.dest: o.default for _, opts in policy_opts.list_opts() for o in opts}
        value = defaults.get(name)
    else:
        value = None
    section = group if group == "DEFAULT" else group.lower()
    for path in paths:
        try:
            sections = read_sections(path)
        except (OSError, ValueError):
            continue    # the parse read it: its errors are reported there
        for raw_section, keys in sections.items():
            norm = raw_section if raw_section == "DEFAULT" else raw_section.lower()
            if norm == section and name in keys:
                value = keys[name][-1]
    return value


def read_sections(path):
    """``{section: {key: [values]}}`` of one file, parsed by oslo.config's parser.

    The file is opened like :func:`check_file` opens it (never blocks) and
    must be a regular UTF-8 file of at most :data:`MAX_SIZE` bytes; raises
    OSError, ValueError (including oslo's ``iniparser.ParseError``) otherwise.
    Cached per (path, device, inode, size, mtime).
    """
    st = os.stat(path)
    return _read_sections(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _read_sections(path, *identity):
    fd = os.open(path, _OPEN_FLAGS & ~os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIZE:
            raise ValueError("%s: not a regular file of at most %d bytes" % (path, MAX_SIZE))
        text = _read(fd).decode("utf-8")
    finally:
        os.close(fd)
    sections = {}
    parser = cfg.ConfigParser(path, sections)
    # ConfigParser.parse() would open the file itself (blocking, locale
    # encoding): feed the lines read above to the same parser instead.
    try:
        super(cfg.ConfigParser, parser).parse(text.splitlines(True))
    except iniparser.ParseError as exc:     # never quote the line: it may hold a secret
        raise ValueError("%s:%d: %s" % (path, exc.lineno, exc.msg)) from None
    return sections


def _read(fd):
    chunks, total = [], 0
    while total <= MAX_SIZE:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def raw_value(files, section, key):
    """``(value, path)``: the last raw value of ``key`` in ``section`` across ``files``.

    As oslo.config would take it from the files (the last one wins; section
    names other than DEFAULT match case-insensitively), before any parse:
    no type, no ``$substitution``.  ``(None, None)`` when no file sets it.
    """
    value = source = None
    want = section if section == "DEFAULT" else section.lower()
    for record in files:
        if getattr(record, "kind", None) in DIR_KINDS:
            continue
        path = getattr(record, "path", record)
        try:
            sections = read_sections(path)
        except (OSError, ValueError):
            continue
        for name, keys in sections.items():
            if (name if name == "DEFAULT" else name.lower()) == want and key in keys:
                value, source = keys[key][-1], path
    return value, source


def allowed_dirs(argv_decision, environ):
    """Where symlinks may lead, for :func:`check_file`.

    /etc/nova, /etc/safe_launch and the directories the operator named: that
    of each --config-file and each --config-dir.
    """
    named = [os.path.dirname(_fixpath(v, environ)) if key == "config_file"
             else _fixpath(v, environ) for key, v in argv_decision.config_args]
    return tuple(dict.fromkeys(list(DEFAULT_ALLOWED_DIRS) + named))


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


def _path_problems(path, lookups, links, real, trusted, allowed):
    problems = []
    if links and not _inside(real, allowed):
        problems.append("%s: reached through symlink %s, leads to %s outside the allowed "
                        "directories (%s)" % (path, links[0], real, ", ".join(allowed)))
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


def _digest(fd, st):
    """(sha256, content bytes) of a file; of its sorted listing for a directory."""
    if stat.S_ISDIR(st.st_mode):
        data = "\n".join(sorted(os.listdir(fd))).encode("utf-8", "surrogateescape")
        return hashlib.sha256(data).hexdigest(), None
    data = _read(fd)
    return hashlib.sha256(data).hexdigest(), data


def _open(real, kind):
    return os.open(real, _OPEN_FLAGS | (os.O_DIRECTORY if kind in DIR_KINDS else 0))


def check_file(path, kind, policy="default", trusted_uids=(0,), trusted_gid=None,
               allowed_dirs=None):
    """Apply ``policy`` to ``path`` (kind from :func:`files_to_check`); never blocks.

    ``trusted_uids``: owners allowed besides root.  ``allowed_dirs``: where a
    symlink may lead (default :data:`DEFAULT_ALLOWED_DIRS`).
    """
    if policy not in POLICIES:
        raise ValueError("unknown file policy %r" % policy)
    path = os.path.abspath(path)
    trusted = set(trusted_uids) | {0}
    allowed = tuple(allowed_dirs or DEFAULT_ALLOWED_DIRS)
    want_dir = kind in DIR_KINDS
    try:
        real, lookups, links = _resolve(path)
        st = os.lstat(real)
    except OSError as exc:
        return FileRecord(path, path, kind, problems=(
            "%s: cannot be read: %s" % (path, exc.strerror or exc),))
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
    problems = []
    if policy != "off":
        problems += _path_problems(path, lookups, links, real, trusted, allowed)
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
    if data is not None:
        if len(data) > MAX_SIZE:
            problems.append("%s: grew beyond %d bytes while being read" % (path, MAX_SIZE))
        elif b"\0" in data:
            problems.append("%s: binary content (NUL bytes), not a text file" % path)
        else:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append("%s: not UTF-8 text (byte %d)" % (path, exc.start))
    return record(sha256=digest, size=len(data) if data is not None else fst.st_size,
                  mode=fst.st_mode, uid=fst.st_uid, gid=fst.st_gid, mtime_ns=fst.st_mtime_ns,
                  problems=tuple(problems))


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


def accept(path, kind, policy, guard, environ, service_user=None):
    """:func:`check_file` with the launch's trust: the one call every path makes.

    Before the parse (``policy`` "off") only root and our euid are trusted;
    after it, root and ``service_user`` (group: its group, for ``strict``).
    Symlinks may lead into the directories :func:`allowed_dirs` names.
    """
    trusted_gid = service_account(service_user)[1] if service_user else None
    return check_file(path, kind, policy, trusted_uids=trusted_uids(service_user),
                      trusted_gid=trusted_gid, allowed_dirs=allowed_dirs(guard, environ))


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
    return tuple(_path_problems(path, lookups + [(real, entry, st)], (), real,
                                set(trusted) | {0}, ()))


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
