"""What the kernel says this process may use, read under a root: no decisions.

Reads the kernel's files only (no psutil), like uber-go/automaxprocs'
``internal/cgroups``, but per controller (cgroup v1, v2 or hybrid), with
mountinfo's root field honoured and the whole cgroup chain walked from our
cgroup up to the mount root.  Every figure comes from a file under
``root`` (``/`` in production, a fake tree in the tests), by one code path:
the CPU affinity from ``Cpus_allowed_list``, RLIMIT_NPROC from
``/proc/self/limits``, the uid and capabilities from ``/proc/self/status``.
:func:`read` returns the figures; :func:`safe_launch.resources.combine`
decides what binds.  Stdlib only: this is on the launch path.
"""

import collections
import fractions
import os
import re

from safe_launch import recordtype

# v1 "no limit" is PAGE_COUNTER_MAX * PAGE_SIZE: ...771712 (4K pages),
# ...759424 (16K), ...710272 (64K).  Anything at or above the smallest is unlimited.
V1_UNLIMITED = 9223372036854710272
DEFAULT_PERIOD = 100000                  # cpu.max without a period
CGROUP_INIT_NS = "cgroup:[4026531835]"   # PROC_CGROUP_INIT_INO: the host's namespace
PID_SCAN_LIMIT = 20000                   # directories visited looking for our pid
SCHED_DEADLINE = 6
REALTIME = frozenset((os.SCHED_FIFO, os.SCHED_RR, SCHED_DEADLINE))
SCHED_RESET_ON_FORK = 0x40000000
_CAP_SYS_ADMIN, _CAP_SYS_RESOURCE = 21, 24
CONTROLLERS = ("cpu", "memory", "pids")


class Mount(recordtype.Frozen):
    """One mountinfo line: ``root`` is the part of the filesystem shown at ``point``."""

    root: str
    point: str
    fstype: str
    superopts: frozenset


class Cgroup(recordtype.Frozen):
    """Where one controller's cgroup is (paths as seen inside ``root``).

    ``how`` is ``mountinfo`` (path translated through a mount), ``pid-scan``
    (found by the cgroup.procs holding our pid) or ``root-guess`` (the mount
    root, with a warning).
    """

    version: int
    mount: str
    leaf: str
    how: str

    def chain(self):
        """Directories from the leaf up to and including the mount point."""
        rel = self.leaf[len(self.mount):].strip("/")
        parts = rel.split("/") if rel else []
        return [os.path.join(self.mount, *parts[:i]) for i in range(len(parts), -1, -1)]


class Figures(recordtype.Frozen):
    """What :func:`read` found, uncombined (see resources.combine).

    ``cpu_quota``: (Fraction, source) of the tightest quota on the cpu
    chain; ``memory_chain``: [(headroom, limit, source)]; ``pids_levels``:
    [(headroom, source, (limit, source))]; ``nproc``: (RLIMIT_NPROC, source)
    when it is enforced on us.
    """

    cpus: int                   # affinity, or PYTHON_CPU_COUNT
    cpu_source: str
    cpu_quota: tuple | None
    realtime: bool              # a real-time scheduling policy: the quota does not apply
    cgroups: dict
    memory_chain: list
    meminfo: dict
    overcommit_strict: bool     # vm.overcommit_memory = 2
    pids_levels: list
    nproc: tuple | None
    pid_max: int | None
    warnings: tuple


# -- pure parsers ----------------------------------------------------------------

_OCTAL = re.compile(r"\\([0-7]{3})")


def unescape(field):
    """Decode mountinfo's octal escapes (``\\040`` space, ``\\011``, ``\\012``, ``\\134``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """Mounts in mountinfo order; malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(" "), right.split(" ", 2)
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        mounts.append(Mount(unescape(fields[3]), unescape(fields[4]), tail[0],
                            frozenset(tail[2].split(","))))
    return mounts


def parse_proc_cgroup(text):
    """``/proc/self/cgroup`` -> (v1 {controller: path}, v2 path or None).

    Paths may contain ``:``; ``name=`` hierarchies are ignored and a
    `` (deleted)`` suffix is stripped.
    """
    v1, v2 = {}, None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            continue
        hid, controllers, path = parts
        path = path.removesuffix(" (deleted)")
        if hid == "0" and not controllers:
            v2 = path
        for name in controllers.split(","):
            if name and not name.startswith("name="):
                v1[name] = path
    return v1, v2


def parse_cpu_list(text):
    """A kernel CPU list (``0-3,8,10-11``) -> frozenset of CPU numbers."""
    cpus = set()
    for item in text.strip().split(","):
        if not item:
            continue
        first, _, last = item.partition("-")
        lo, hi = int(first), int(last or first)
        if hi < lo:
            raise ValueError("bad CPU range %r" % item)
        cpus.update(range(lo, hi + 1))
    return frozenset(cpus)


def parse_cpu_max(text):
    """v2 ``cpu.max`` -> (quota, period), or None for ``max``.

    Lenient: the period defaults to 100000 and extra fields are ignored;
    raises ValueError for anything else unusable (empty, non-numeric, <= 0).
    """
    fields = text.split()
    if not fields:
        raise ValueError("empty")
    period = int(fields[1]) if len(fields) > 1 else DEFAULT_PERIOD
    if fields[0] == "max":
        return None
    quota = int(fields[0])
    if quota <= 0 or period <= 0:
        raise ValueError("not positive")
    return quota, period


def parse_cfs(quota_text, period_text):
    """v1 ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` -> (quota, period) or None (-1)."""
    quota = int(quota_text)
    if quota < 0:
        return None
    period = int(period_text)
    if quota == 0 or period <= 0:
        raise ValueError("not positive")
    return quota, period


def parse_max(text):
    """A v2 limit file (``max`` or an integer) -> int or None."""
    value = text.strip()
    return None if value == "max" else int(value)


def parse_keyed(text, scale=1):
    """``key value`` lines (memory.stat) or ``Key: value kB`` (meminfo) -> {key: int * scale}."""
    values = {}
    for line in text.splitlines():
        fields = line.replace(":", " ").split()
        if len(fields) >= 2 and fields[1].isdigit():
            values[fields[0]] = int(fields[1]) * scale
    return values


def parse_status(text):
    """``/proc/self/status`` -> {field: value}."""
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def translate(path, mount):
    """Our cgroup ``path`` as a directory under ``mount``, or None if it is not shown there."""
    if ".." in path.split("/"):
        return None
    if mount.root == "/":
        return mount.point if path == "/" else mount.point.rstrip("/") + path
    if path == mount.root:
        return mount.point
    if path.startswith(mount.root + "/"):
        return mount.point.rstrip("/") + path[len(mount.root):]
    return None


def is_v1_unlimited(limit, mem_total):
    """A v1 ``limit_in_bytes`` meaning "no limit" (any page size, or above the RAM)."""
    return limit >= V1_UNLIMITED or (mem_total is not None and limit >= mem_total)


def host_available(meminfo):
    """(bytes, source) from meminfo: MemAvailable, or its pre-3.14 approximation."""
    if "MemAvailable" in meminfo:
        return meminfo["MemAvailable"], "host MemAvailable"
    keys = ("MemFree", "Buffers", "Cached", "SReclaimable")
    if any(k in meminfo for k in keys):
        return sum(meminfo.get(k, 0) for k in keys), "host " + "+".join(keys)
    return None


def headroom(limit, usage, reclaimable):
    return max(0, limit - max(0, usage - reclaimable))


# -- I/O -------------------------------------------------------------------------

def _under(root, path):
    return os.path.join(root, path.lstrip("/"))


def _read(root, path):
    """The file's text, or None when it cannot be read."""
    try:
        with open(_under(root, path), "rb") as f:
            return os.fsdecode(f.read())
    except OSError:
        return None


class Reader:
    """One reading of the tree under ``root``, warnings collected as it goes."""

    def __init__(self, root, pid):
        self.root, self.pid = root, pid
        self.warnings = []

    def read(self, path):
        return _read(self.root, path)

    def read_value(self, path, parse):
        """``parse(text)`` of the file; (False, None) when missing, warns when invalid."""
        text = self.read(path)
        if text is None:
            return False, None
        try:
            return True, parse(text)
        except ValueError:
            self.warnings.append("ignored %s: unusable value %r" % (path, text.strip()[:40]))
            return False, None

    # -- locating cgroups

    def locate(self, proc_cgroup, mounts):
        """{controller: Cgroup} for the controllers that resolve; each on its own."""
        v1, v2 = parse_proc_cgroup(proc_cgroup)
        visible = _visible(mounts)
        found, done = {}, {}
        for controller in CONTROLLERS:
            v1_mounts = [m for m in mounts if m.fstype == "cgroup" and controller in m.superopts]
            v2_mounts = [m for m in mounts if m.fstype == "cgroup2"]
            if controller in v1 and v1_mounts:
                key = (1, v1[controller], tuple(v1_mounts))
                label = "cgroup v1 " + controller
            elif v2 is not None and v2_mounts:
                key = (2, v2, tuple(v2_mounts))
                label = "cgroup v2"
            else:
                if controller in v1:
                    self.warnings.append("cgroup v1 %s: listed in /proc/self/cgroup but not "
                                         "mounted; its limits are unknown" % controller)
                continue
            if key not in done:
                done[key] = self.resolve(label, key[0], key[1], _best_first(key[2], visible))
            found[controller] = done[key]
        return found

    def resolve(self, label, version, path, candidates):
        """Translate ``path`` through the first candidate that shows it, else scan or guess."""
        for mount in candidates:
            leaf = translate(path, mount)
            if leaf is not None and os.path.isdir(_under(self.root, leaf)):
                self.warn_if_hidden(label, mount, leaf)
                return Cgroup(version, mount.point, leaf, "mountinfo")
        mount = candidates[0]
        leaf = self.scan_for_pid(mount.point)
        if leaf is not None:
            return Cgroup(version, mount.point, leaf, "pid-scan")
        self.warnings.append(
            "%s: %s is not shown by the mount at %s (root %s) and no cgroup.procs there lists "
            "pid %d; using the mount root, our own cgroup's limits may be missed"
            % (label, path, mount.point, mount.root, self.pid))
        return Cgroup(version, mount.point, mount.point, "root-guess")

    def warn_if_hidden(self, label, mount, leaf):
        """At the top of what the mount shows, ancestors' limits may be invisible."""
        if leaf != mount.point:
            return
        if mount.root == "/" and self.init_cgroupns():
            return
        self.warnings.append("%s: %s is the top of the visible hierarchy (mount root %s); "
                             "limits set on its ancestors may be invisible"
                             % (label, leaf, mount.root))

    def init_cgroupns(self):
        try:
            return os.readlink(_under(self.root, "proc/self/ns/cgroup")) == CGROUP_INIT_NS
        except OSError:
            return False

    def scan_for_pid(self, mount_point):
        """Breadth-first, bounded: the directory whose cgroup.procs lists our pid."""
        base, want = _under(self.root, mount_point), str(self.pid)
        queue, visited = collections.deque([base]), 0
        while queue and visited < PID_SCAN_LIMIT:
            directory = queue.popleft()
            visited += 1
            procs = _read("/", os.path.join(directory, "cgroup.procs")) or ""
            if want in procs.split():
                return mount_point.rstrip("/") + directory[len(base):] or "/"
            try:
                with os.scandir(directory) as entries:
                    queue.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
            except OSError:
                continue
        return None

    # -- figures

    def cpu_quota(self, cg):
        """(Fraction, source) of the tightest quota on the chain, or None."""
        best = None
        for d in cg.chain():
            if cg.version == 2:
                present, qp = self.read_value(d + "/cpu.max", parse_cpu_max)
            else:
                period = self.read(d + "/cpu.cfs_period_us")
                present, qp = self.read_value(d + "/cpu.cfs_quota_us",
                                              lambda text: parse_cfs(text, period or ""))
            if present and qp is not None and (best is None or fractions.Fraction(*qp) < best[0]):
                best = (fractions.Fraction(*qp), "quota %d/%d at %s (v%d)"
                        % (qp[0], qp[1], d, cg.version))
        return best

    def memory_chain(self, cg, mem_total):
        """[(headroom, limit, source)] for every limited level of the chain."""
        found = []
        for i, d in enumerate(cg.chain()):
            stat = parse_keyed(self.read(d + "/memory.stat") or "")
            if cg.version == 2:
                limits = []
                for name in ("memory.max", "memory.high"):
                    limits.append((self.read_value(d + "/" + name, parse_max)[1],
                                   d + "/" + name))
                usage_file, reclaim = "memory.current", stat.get("inactive_file", 0)
            else:
                _, lim = self.read_value(d + "/memory.limit_in_bytes", int)
                limits = [(lim, d + "/memory.limit_in_bytes")]
                if i == 0:   # the only view of limits on hidden ancestors
                    limits.append((stat.get("hierarchical_memory_limit"),
                                   d + "/memory.stat hierarchical_memory_limit"))
                usage_file = "memory.usage_in_bytes"
                reclaim = stat.get("total_inactive_file", stat.get("inactive_file", 0))
            limits = [(v, w) for v, w in limits if v is not None
                      and (cg.version == 2 or not is_v1_unlimited(v, mem_total))]
            if not limits:
                continue
            limit, where = min(limits)
            present, usage = self.read_value(d + "/" + usage_file, int)
            if not present:
                self.warnings.append("%s/%s unreadable: headroom counted from the limit"
                                     % (d, usage_file))
                usage = 0
            found.append((headroom(limit, usage, reclaim), limit,
                          "%s %d - (usage %d - inactive_file %d) (v%d)"
                          % (where, limit, usage, reclaim, cg.version)))
        return found

    def pids_chain(self, cg):
        """[(headroom, source, (limit, source))] for every level with a pids.max."""
        found = []
        for d in cg.chain():
            _, limit = self.read_value(d + "/pids.max", parse_max)
            if limit is None:
                continue
            _, current = self.read_value(d + "/pids.current", int)
            found.append((max(0, limit - (current or 0)), "%s/pids.max %d - pids.current %d (v%d)"
                          % (d, limit, current or 0, cg.version),
                          (limit, "%s/pids.max %d (v%d)" % (d, limit, cg.version))))
        return found


def _visible(mounts):
    """Mounts not covered by a later mount on the same path or an ancestor of it."""
    shown = set()
    for i, m in enumerate(mounts):
        if not any(later.point == m.point or m.point.startswith(later.point.rstrip("/") + "/")
                   for later in mounts[i + 1:]):
            shown.add(m)
    return shown


def _best_first(candidates, visible):
    return sorted(candidates, key=lambda m: (m not in visible,
                                             not m.point.startswith("/sys/fs/cgroup")))


def cpu_count_override(env, warnings):
    value = env.get("PYTHON_CPU_COUNT")
    if value is None or value == "default":
        return None
    if value.isdigit() and int(value) >= 1:
        return int(value)
    warnings.append("ignored PYTHON_CPU_COUNT=%r: not a positive integer" % value)
    return None


def nproc_cap(limits, status):
    """RLIMIT_NPROC as (limit, source) when it is enforced on us, else None.

    From ``/proc/self/limits`` (``Max processes``) and ``/proc/self/status``
    (real uid, CapEff): root, CAP_SYS_ADMIN and CAP_SYS_RESOURCE are exempt.
    """
    soft = next((line.split()[2] for line in limits.splitlines()
                 if line.startswith("Max processes")), "unlimited")
    uid = (status.get("Uid") or "0").split()[0]
    if soft == "unlimited" or not soft.isdigit() or not uid.isdigit() or int(uid) == 0:
        return None
    caps = int(status.get("CapEff", "0"), 16)
    if caps & (1 << _CAP_SYS_ADMIN | 1 << _CAP_SYS_RESOURCE):
        return None
    return int(soft), "RLIMIT_NPROC %s (threads of uid %s, sanity cap)" % (soft, uid)


def read(root="/", pid=None, affinity=None, sched_policy=None, env=None):
    """The figures under ``root``; never raises on odd trees.

    ``affinity`` (CPU numbers) replaces ``Cpus_allowed_list``;
    ``sched_policy`` replaces os.sched_getscheduler(0); ``env`` os.environ
    (``PYTHON_CPU_COUNT`` replaces the CPU count, the quota still applies).
    """
    pid = os.getpid() if pid is None else pid
    env = os.environ if env is None else env
    sched_policy = os.sched_getscheduler(0) if sched_policy is None else sched_policy
    r = Reader(root, pid)
    status = parse_status(r.read("proc/self/status") or "")
    if affinity is None:
        try:
            affinity = parse_cpu_list(status.get("Cpus_allowed_list", ""))
        except ValueError:
            affinity = ()
        if not affinity:
            affinity = range(os.cpu_count() or 1)
            r.warnings.append("no Cpus_allowed_list under %s: assuming all %d CPUs"
                              % (root, len(affinity)))
    override = cpu_count_override(env, r.warnings)
    cgroups = r.locate(r.read("proc/self/cgroup") or "", parse_mountinfo(
        r.read("proc/self/mountinfo") or ""))
    quota = r.cpu_quota(cgroups["cpu"]) if "cpu" in cgroups else None
    meminfo = parse_keyed(r.read("proc/meminfo") or "", scale=1024)
    chain = r.memory_chain(cgroups["memory"], meminfo.get("MemTotal")) \
        if "memory" in cgroups else []
    strict = (r.read("proc/sys/vm/overcommit_memory") or "").strip() == "2"
    levels = r.pids_chain(cgroups["pids"]) if "pids" in cgroups else []
    nproc = nproc_cap(r.read("proc/self/limits") or "", status)
    _, pid_max = r.read_value("proc/sys/kernel/pid_max", int)
    return Figures(
        cpus=override or len(affinity),
        cpu_source=("PYTHON_CPU_COUNT=%d (affinity %d)" % (override, len(affinity))
                    if override else "affinity %d" % len(affinity)),
        cpu_quota=quota, realtime=(sched_policy & ~SCHED_RESET_ON_FORK) in REALTIME,
        cgroups=cgroups, memory_chain=chain, meminfo=meminfo, overcommit_strict=strict,
        pids_levels=levels, nproc=nproc,
        pid_max=pid_max if pid_max is not None and pid_max > 0 else None,
        warnings=tuple(r.warnings))
