"""Process hygiene: what the launcher applies to itself before the parse.

Under systemd the hardened unit sets NoNewPrivileges=, UMask=, LimitCORE=
and a clean environment; in containers, under other init systems and by
hand the launcher is the only layer.  So, in this order (each relaxed by
one ``[safe_launch]`` option, read raw the way the audit trail's location
is, :func:`safe_launch.trail.early`):

1. umask (``umask``, 027): before any file is created (the audit trail);
2. descriptors inherited at exec (``close_inherited_fds``): closed, except
   0, 1, 2 and systemd's ``LISTEN_FDS`` when ``LISTEN_PID`` is ours;
3. environment (``allowed_environment``): the variables that inject code or
   change what is loaded are refused (:data:`CODE_VARIABLES`,
   :data:`LOADER_VARIABLES`);
4. identity (``allow_root``, ``service_user``): euid 0 is refused unless
   ``service_user`` names an account, then the launcher becomes it
   (supplementary groups, gid, uid) and every file it read must be readable
   by it;
5. core dumps (``allow_core_dumps``): RLIMIT_CORE (0, 0) and not dumpable
   (no core file, no same-uid ptrace or /proc/PID/mem, environ, fd reads),
   after the switch, which resets dumpable;
6. no_new_privs (``no_new_privileges``) unless the service spec says the
   service needs privilege gain (:attr:`ServiceSpec.needs_privilege_gain`);
7. the ``sys.path`` directories (``import_path_check``,
   :mod:`safe_launch.importpaths`).

Forked workers inherit all of it.  The kernel calls live in
:mod:`safe_launch.procctl`; this module decides.
"""

import os
import stat as stat_module
import time

from safe_launch import configfiles
from safe_launch.errors import LaunchError
from safe_launch import importpaths
from safe_launch import recordtype

NAMES = ("allow_root", "service_user", "allow_core_dumps", "no_new_privileges", "umask",
         "close_inherited_fds", "allowed_environment", "import_path_check")

# Python variables that run code or change where code is imported from (all
# ignored by an isolated interpreter, -I, which the console scripts use; a
# child the service execs would honour them).  PYTHONWARNINGS imports the
# module a module-qualified category names.  Not listed: those that only
# make Python safer or noisier (PYTHONSAFEPATH, PYTHONNOUSERSITE,
# PYTHONDONTWRITEBYTECODE, PYTHONVERBOSE...), and PYTHONPYCACHEPREFIX (the
# benchmarks point it at a private bytecode cache).
CODE_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT",
                  "PYTHONUSERBASE", "PYTHONBREAKPOINT", "PYTHONEXECUTABLE",
                  "PYTHONPLATLIBDIR", "PYTHONWARNINGS")
# The dynamic loader's: allowed when every path they name is root's alone.
LOADER_VARIABLES = ("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT")


class Settings(recordtype.Frozen):
    allow_root: bool = False
    service_user: str = None
    allow_core_dumps: bool = False
    no_new_privileges: bool = True
    umask: str = "027"
    close_inherited_fds: bool = True
    allowed_environment: tuple = ()
    import_path_check: str = "service"


def settings(files, environ):
    """The hygiene options before the parse (raw, as the trail's are read)."""
    from safe_launch import trail
    values = {name: trail.early(name, files, environ) for name in NAMES}
    values["allowed_environment"] = tuple(values["allowed_environment"] or ())
    values["service_user"] = values["service_user"] or None
    return Settings(**values)


class Hygiene(recordtype.Frozen):
    """What the process is after the hygiene step, as the kernel reports it."""

    identity: str           # "refused", "root allowed", "switched", "not root"
    user: str
    uid: int
    gid: int
    groups: tuple
    umask: str
    core_limit: tuple
    dumpable: bool
    no_new_privs: bool
    no_new_privs_because: str
    inherited_fds: tuple
    closed_fds: int
    kept_fds: tuple
    environment_allowed: tuple
    sys_path_dirs: int
    microseconds: int
    problems: tuple = ()
    where: tuple = ()

    @property
    def ok(self):
        return not self.problems

    def status(self):
        """The STATUS= part: "as nova, nnp, umask 0027, no core"."""
        return ", ".join([
            "as %s" % (self.user or "uid %d" % self.uid),
            "nnp" if self.no_new_privs else "privilege gain allowed",
            "umask %s" % self.umask,
            "no core" if not self.dumpable and self.core_limit == (0, 0) else "core dumps on"])

    def summary(self):
        if self.problems:
            return "hygiene: refused: " + self.problems[0]
        closed = ("%d inherited descriptor%s closed" % (self.closed_fds, "s"[
            self.closed_fds == 1:]) if self.closed_fds else "no inherited descriptor closed")
        return "hygiene: %s (%s), %s, environment %s, %d sys.path dirs checked" % (
            self.status(), self.identity, closed,
            "allowed: " + ", ".join(self.environment_allowed)
            if self.environment_allowed else "clean", self.sys_path_dirs)


def _problem(text, option, **where):
    return (text, dict(where, option=option, group="safe_launch"))


def listen_fds(environ, pid):
    """The descriptors systemd passes (socket activation) to ``pid``."""
    try:
        if int(environ.get("LISTEN_PID", "")) != pid:
            return ()
        return tuple(range(3, 3 + int(environ.get("LISTEN_FDS", "0"))))
    except ValueError:
        return ()


def environment_problems(environ, allowed, stat):
    """The refused variables of ``environ``, as ``(text, where)``."""
    problems = []
    how = "; allow it by name in [safe_launch] allowed_environment"
    for name in CODE_VARIABLES:
        if environ.get(name) and name not in allowed:
            problems.append(_problem(
                "environment: %s is set: it runs code or changes what Python imports in "
                "the service%s" % (name, how), "allowed_environment", variable=name))
    for name in LOADER_VARIABLES:
        value = environ.get(name)
        if value is None or name in allowed:
            continue
        why = loader_path_problem(name, value, stat)
        if why:
            problems.append(_problem("environment: %s: %s, and it loads code into the "
                                     "service%s" % (name, why, how),
                                     "allowed_environment", variable=name))
    return problems


def loader_path_problem(name, value, stat):
    """Why the dynamic loader's ``value`` may load code someone else controls."""
    separators = " :" if name == "LD_PRELOAD" else ":;" if name == "LD_LIBRARY_PATH" else ":"
    paths = [value]
    for separator in separators:
        paths = [part for path in paths for part in path.split(separator)]
    if name == "LD_LIBRARY_PATH" and "" in paths:
        return "an empty entry means the current directory"
    for path in filter(None, paths):
        if not os.path.isabs(path):
            return "%s is not an absolute path" % path
        try:
            st = stat(path)
        except OSError as exc:
            return "%s: %s" % (path, exc.strerror)
        if st.st_uid != 0:
            return "%s is owned by uid %d, not root" % (path, st.st_uid)
        why = importpaths.weakness(st, None)
        if why:
            return "%s is %s" % (path, why)
    return None


def identity_problem(euid, settings, account):
    """None, or why this launch may not go on as ``euid`` (``account``: (uid, gid))."""
    uid = account[0]
    if euid == 0 and (uid is None or uid == 0):
        if settings.allow_root:
            return None
        return _problem("running as root (euid 0) is refused: set [safe_launch] service_user "
                        "to the account the service runs as (the launcher switches to it), "
                        "or allow_root = true", "service_user" if uid == 0 else "allow_root")
    if euid != 0 and uid is not None and uid != euid:
        return _problem("[safe_launch] service_user = %s (uid %d): the launcher runs as uid "
                        "%d, not root, so it cannot switch to it"
                        % (settings.service_user, uid, euid), "service_user")
    return None


def unreadable(records, sys_path, kernel, user):
    """The files the launch read, and the sys.path directories, the account cannot read."""
    problems = []
    for record in records:
        directory = record.kind in configfiles.DIR_KINDS
        if not kernel.readable(record.path, directory):
            problems.append(_problem(
                "[safe_launch] service_user = %s cannot read %s: make it readable by the "
                "account" % (user, record.path), "service_user", file=record.path))
    for entry in sys_path:
        path = os.path.abspath(entry or os.curdir)
        try:
            is_dir = stat_module.S_ISDIR(kernel.stat(path).st_mode)
        except OSError:
            continue
        if not kernel.readable(path, is_dir):
            problems.append(_problem(
                "[safe_launch] service_user = %s cannot read %s (on sys.path): the service "
                "could not import its code" % (user, path), "service_user", file=path))
    # safe_launch's own package, wherever its finder maps it from (an
    # editable install is not on sys.path): the launcher goes on importing
    # its phases as the account.
    own = os.path.dirname(os.path.abspath(__file__))
    if not kernel.readable(own, True):
        problems.append(_problem(
            "[safe_launch] service_user = %s cannot read %s (safe_launch's own code): the "
            "launcher could not go on as the account" % (user, own), "service_user",
            file=own))
    return problems


def apply(settings, environ, inherited, records, spec, kernel, sys_path,
          clock=time.perf_counter):
    """Apply the hygiene to this process; the :class:`Hygiene` record (problems: refuse)."""
    started = clock()
    mask = int(settings.umask, 8)
    kernel.set_umask(mask)
    problems = []

    kept = listen_fds(environ, kernel.pid())
    closing = ()
    if settings.close_inherited_fds and inherited:
        closing = tuple(fd for fd in inherited if fd > 2 and fd not in kept)
        kernel.close_fds(closing)

    problems += environment_problems(environ, settings.allowed_environment, kernel.stat)

    euid = kernel.euid()
    try:
        account = configfiles.service_account(settings.service_user)
    except LaunchError as exc:
        account = (None, None)
        problems.append(_problem(exc.problems[0], "service_user"))
    refused = identity_problem(euid, settings, account)
    if refused:
        problems.append(refused)
    switch = not problems and euid == 0 and account[0] not in (None, 0)
    if switch:
        kernel.switch_user(settings.service_user, account[0], account[1])
        problems += unreadable(records, sys_path, kernel, settings.service_user)
    identity = ("refused" if refused else "switched" if switch
                else "root allowed" if euid == 0 else "not root")

    if not settings.allow_core_dumps:
        kernel.forbid_core_dumps()
    if spec.needs_privilege_gain:
        because = "not set: the service spec needs privilege gain"
    elif not settings.no_new_privileges:
        because = "not set: [safe_launch] no_new_privileges = false"
    else:
        because = "set"
        kernel.set_no_new_privs()

    service_uid = kernel.euid() or None
    dirs = 0
    if settings.import_path_check != "off":
        dirs = len(sys_path)
        problems += importpaths.check_sys_path(sys_path, kernel.stat, service_uid)

    status = kernel.status()
    return Hygiene(
        identity=identity, user=settings.service_user if switch else _user_name(euid),
        uid=kernel.euid(), gid=kernel.egid(), groups=kernel.groups(),
        umask="%04o" % mask, core_limit=tuple(kernel.core_limit()),
        dumpable=kernel.dumpable(), no_new_privs=status.get("NoNewPrivs") == "1",
        no_new_privs_because=because, inherited_fds=tuple(inherited or ()),
        closed_fds=len(closing), kept_fds=kept,
        environment_allowed=tuple(n for n in settings.allowed_environment if n in environ),
        sys_path_dirs=dirs, microseconds=int((clock() - started) * 1e6),
        problems=tuple(text for text, _ in problems), where=tuple(w for _, w in problems))


def _user_name(uid):
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def check_loaded_meanwhile(settings, modules, spec, kernel):
    """:func:`check_loaded` in a thread of its own, while the service's pre-serve
    step waits (nova joins its thread pools before it forks: about a second, the
    main thread idle); returns the call that waits for the verdict, which the
    serve phase makes before any worker forks."""
    from safe_launch import native
    modules = dict(modules)     # as loaded now; the main thread goes on importing
    return native.background(lambda: check_loaded(settings, modules, spec, kernel))


def check_loaded(settings, modules, spec, kernel):
    """The import-path rule over ``modules`` ({name: module}) loaded now; None when off.

    The create phase calls it, once nova's service (its import graph) exists.
    """
    if settings.import_path_check == "off":
        return None
    packages = (None if settings.import_path_check == "all" else
                (spec.package, "oslo", "safe_launch"))
    return importpaths.check_loaded(modules, kernel.stat, kernel.euid() or None, packages)
