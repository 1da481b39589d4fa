"""Import-path integrity: whoever can write the service's code runs code as it.

One rule (:func:`weakness`) for every path Python loads code from: the
directories on ``sys.path`` (a ``.pth`` file adds its directories there, so
they are judged the same way), and the files of every module loaded by the
time the service is created (nova, oslo, this package, their dependencies),
with the directory each lives in and its bytecode directory.  A path is weak
when its group or others may write it, or when a non-root service account
owns it (an owner can always chmod).  Each path is stat'ed once.
"""

import os
import stat as stat_module
import time
import types

from safe_launch import recordtype

OPTION = "[safe_launch] import_path_check"


class ImportsChecked(recordtype.Frozen):
    """The loaded modules' files, as the create phase found them."""

    modules: int
    paths: int
    microseconds: int
    problems: tuple = ()

    @property
    def ok(self):
        return not self.problems

    def summary(self):
        if self.problems:
            return "imports: %d weak paths: %s" % (len(self.problems), self.problems[0][0])
        return "imports: %d modules, %d paths checked (not writable by others) in %d us" % (
            self.modules, self.paths, self.microseconds)


def weakness(st, service_uid):
    """Why a path with this stat may be changed by someone other than root; None if not."""
    if st.st_mode & 0o022 and not stat_module.S_ISLNK(st.st_mode):
        return "writable by %s (mode %04o)" % (
            "group and others" if st.st_mode & 0o022 == 0o022 else
            "group" if st.st_mode & 0o020 else "others", stat_module.S_IMODE(st.st_mode))
    if service_uid and st.st_uid == service_uid:
        return "owned by the service account (uid %d), which can change it" % service_uid
    return None


def problem(path, why, what):
    return ("%s %s is %s: whoever can write it runs code in the service (%s)"
            % (what, path, why, OPTION), {"file": path, "option": "import_path_check",
                                          "group": "safe_launch"})


def _judge(paths, stat, service_uid):
    """The problems of ``paths`` ({path: what}), each stat'ed once."""
    problems = []
    for path, what in paths.items():
        try:
            st = stat(path)
        except OSError:
            continue    # absent (a sys.path entry may be): nothing loads from it
        why = weakness(st, service_uid)
        if why:
            problems.append(problem(path, why, what))
    return problems


def check_sys_path(entries, stat, service_uid):
    """The ``(text, where)`` problems of the ``sys.path`` directories."""
    paths = {}
    for entry in entries:
        paths.setdefault(os.path.abspath(entry or os.curdir), "sys.path directory")
    return _judge(paths, stat, service_uid)


def check_loaded(modules, stat, service_uid, packages=None, clock=time.perf_counter):
    """:class:`ImportsChecked` for ``modules`` ({name: module}, as ``sys.modules``).

    Every module's directory and bytecode directory (``__pycache__``:
    whoever can write there can plant a newer .pyc), and its file when
    ``packages`` is None or its top-level name starts with one of them.  The
    cost is one stat per path, 4-10 us on a VM: nova's whole graph is about
    2,100 files and 400 directories, its own, oslo's and safe_launch's files
    about 360.  The .pyc files are not stat'ed: that would double the cost,
    and pip writes them with the mode of the sources.
    """
    started = clock()
    paths = {}
    count = 0
    judged = set()      # directories whose module and bytecode directories are in paths
    module_type = types.ModuleType
    for name, module in list(modules.items()):
        # A module's namespace holds what the import system set: getattr()
        # would run a module's __getattr__ (PEP 562: several libraries'
        # deprecation shims, 10-20 us each) and raise and catch
        # AttributeError for each module without a file.  Other objects in
        # sys.modules (cffi's Lib builds a 200 us __dict__) get getattr().
        if isinstance(module, module_type):
            namespace = module.__dict__
        else:
            namespace = {k: getattr(module, k, None) for k in ("__file__", "__cached__")}
        path = namespace.get("__file__")
        if not isinstance(path, str):
            continue        # built-in, frozen or namespace package
        count += 1
        if packages is None or name.startswith(packages):
            paths[path] = "module file"
        # Most of the graph's ~2,100 modules share a few hundred directories:
        # each directory's paths are gathered once (this loop was half the cost).
        directory = path.rpartition("/")[0]
        if directory in judged:
            continue
        paths.setdefault(directory, "module directory")
        cached = namespace.get("__cached__")
        if isinstance(cached, str):     # an extension module has none: look again
            paths.setdefault(cached.rpartition("/")[0], "bytecode directory")
            judged.add(directory)
    problems = _judge(paths, stat, service_uid)
    return ImportsChecked(count, len(paths), int((clock() - started) * 1e6), tuple(problems))
