"""Private cgroup v1 directories for the scheduling benchmark's constrained cases.

Each is created under the benchmark's own cgroup of that controller (so the
machine's other groups are never touched), the launched service is moved in
by a ``sh`` wrapper before it execs, and ``remove`` kills whatever is left in
it and removes the directory.
"""

import os
import signal
import time
import uuid

ROOT = "/sys/fs/cgroup"


def own_path(controller, proc_cgroup="/proc/self/cgroup"):
    """This process's cgroup path for a v1 ``controller`` ("/" if not found)."""
    with open(proc_cgroup) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return path
    return "/"


def available(controller):
    return os.path.isdir(os.path.join(ROOT, controller)) and os.access(
        os.path.join(ROOT, controller, own_path(controller).lstrip("/")), os.W_OK)


class Group:
    def __init__(self, controller, settings, prefix="safe-launch-schedbench"):
        self.controller = controller
        self.path = os.path.join(ROOT, controller, own_path(controller).lstrip("/"),
                                 "%s-%s" % (prefix, uuid.uuid4().hex[:8]))
        os.mkdir(self.path)
        for name, value in settings.items():
            self.write(name, value)

    def write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(str(value))

    def read(self, name):
        try:
            with open(os.path.join(self.path, name)) as f:
                return f.read()
        except OSError:
            return ""

    def keyed(self, name):
        out = {}
        for line in self.read(name).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
        return out

    def procs(self):
        return [int(x) for x in self.read("cgroup.procs").split()]

    def remove(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.procs():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def wrap(argv, groups):
    """``argv`` run by a shell that first moves itself into every group."""
    moves = " && ".join("echo $$ > %s/cgroup.procs" % g.path for g in groups)
    return ["sh", "-c", moves + ' && exec "$@"', "sh"] + list(argv)
