"""The kernel calls and reads the process hygiene decides on; no policy here.

:class:`Kernel` is the one door to them: prctl (dumpable, no_new_privs)
through libc, rlimits, umask, the identity switch, descriptor closing, and
the reads of ``/proc/self`` under an injectable ``root`` so unit tests can
give the policy (:mod:`safe_launch.hygiene`) a fake tree or a fake kernel.
"""

import os
import resource

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38


class Kernel:
    """This process, as the kernel sees and changes it."""

    def __init__(self, root="/"):
        self.root = root
        self._libc = None

    def _prctl(self, option, arg=0):
        if self._libc is None:
            import ctypes       # only here: ctypes costs ~1 ms to import
            self._libc = ctypes.CDLL(None, use_errno=True)
            self._errno = ctypes.get_errno
        result = self._libc.prctl(option, arg, 0, 0, 0)
        if result < 0:
            errno = self._errno()
            raise OSError(errno, "prctl(%d): %s" % (option, os.strerror(errno)))
        return result

    # -- reads ------------------------------------------------------------------

    def open_fds(self):
        """The descriptors open now (``/proc/self/fd`` under root); None without /proc."""
        try:
            listed = [int(name) for name in os.listdir(
                os.path.join(self.root, "proc/self/fd"))]
        except (OSError, ValueError):
            return None
        if self.root != "/":
            return sorted(listed)
        # The listing's own descriptor is closed again by now.
        return sorted(fd for fd in listed if _is_open(fd))

    def status(self):
        """``/proc/self/status`` as {field: value}."""
        with open(os.path.join(self.root, "proc/self/status")) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    def euid(self):
        return os.geteuid()

    def pid(self):
        return os.getpid()

    def core_limit(self):
        return resource.getrlimit(resource.RLIMIT_CORE)

    def dumpable(self):
        return bool(self._prctl(PR_GET_DUMPABLE))

    def egid(self):
        return os.getegid()

    def groups(self):
        return tuple(os.getgroups())

    def stat(self, path):
        return os.stat(path)

    def readable(self, path, directory=False):
        return os.access(path, os.R_OK | (os.X_OK if directory else 0))

    # -- changes ----------------------------------------------------------------

    def set_umask(self, mask):
        return os.umask(mask)

    def close_fds(self, fds):
        """Close ``fds`` (sorted), each run of consecutive numbers with one closerange."""
        start = previous = None
        for fd in list(fds) + [None]:
            if fd is not None and previous is not None and fd == previous + 1:
                previous = fd
                continue
            if start is not None:
                os.closerange(start, previous + 1)
            start = previous = fd

    def forbid_core_dumps(self):
        """RLIMIT_CORE (0, 0), then not dumpable.

        A refused setrlimit (a seccomp filter denying @resources, as the
        unit's SystemCallFilter= does, with LimitCORE=0 already set) leaves
        the limit as it is: the record reads it back (:meth:`core_limit`).
        """
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (OSError, ValueError):
            pass
        self._prctl(PR_SET_DUMPABLE, 0)

    def set_no_new_privs(self):
        self._prctl(PR_SET_NO_NEW_PRIVS, 1)

    def switch_user(self, name, uid, gid):
        """Supplementary groups, then gid, then uid (real, effective and saved)."""
        os.initgroups(name, gid)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)


def _is_open(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
