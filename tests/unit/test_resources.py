"""probe() on fake /proc and cgroup trees (worker-bounds.md section 6), and on this host."""

from fractions import Fraction
import os
import time

import pytest

from safe_launch import kernelread
from safe_launch.resources import probe
from safe_launch.workers import bound

PID = 4242
GiB = 2 ** 30
V2 = "30 23 0:26 {root} {point} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw"
V1 = "3{n} 31 0:2{n} {root} {point} rw,relatime - cgroup cgroup rw,{ctrls}"
UNLIMITED_4K = 9223372036854771712
UNLIMITED_64K = 9223372036854710272


def v2(point="/sys/fs/cgroup", root="/"):
    return V2.format(root=root, point=point)


def v1(ctrls, point=None, root="/", n=2):
    return V1.format(n=n, root=root, ctrls=ctrls,
                     point=point or "/sys/fs/cgroup/" + ctrls)


class Tree:
    """A fake root: /proc files plus cgroup directories, built under tmp_path."""

    def __init__(self, path):
        self.root = path
        self.meminfo(MemTotal=64 * GiB // 1024, MemAvailable=60 * GiB // 1024)
        self.ns(init=True)

    def write(self, path, text):
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def cg(self, path, files=None, **kw):
        """A cgroup directory with ``files`` ({name: content})."""
        (self.root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        for name, value in dict(files or {}, **kw).items():
            self.write(path + "/" + name, "%s\n" % value)
        return self

    def proc(self, cgroup=(), mountinfo=()):
        self.write("/proc/self/cgroup", "".join(line + "\n" for line in cgroup))
        self.write("/proc/self/mountinfo", "".join(line + "\n" for line in mountinfo))
        return self

    def meminfo(self, **kb):
        self.write("/proc/meminfo", "".join("%s: %d kB\n" % kv for kv in kb.items()))

    def ns(self, init):
        link = self.root / "proc/self/ns/cgroup"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to("cgroup:[4026531835]" if init else "cgroup:[4026532999]")

    def probe(self, affinity=range(64), **kw):
        kw.setdefault("sched_policy", os.SCHED_OTHER)
        kw.setdefault("env", {})
        return probe(str(self.root), pid=PID, affinity=affinity, **kw)


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path)


def v2_tree(tree, path="/", levels=None, mount="/sys/fs/cgroup"):
    """A v2 host: CG ``0::path``; ``levels`` {cgroup path: files}."""
    tree.proc(["0::" + path], [v2(mount)])
    tree.cg(mount.rstrip("/") + path)
    for sub, files in (levels or {}).items():
        tree.cg(mount.rstrip("/") + sub, files)
    return tree


# -- Done-when cases of issue 4 ------------------------------------------------------

def test_v2_quota_on_a_parent_with_max_on_the_leaf(tree):
    """Case 1: a Kubernetes pod: the limits sit on the pod slice."""
    v2_tree(tree, "/kubepods.slice/pod1.slice/cri-abc.scope", {
        "/kubepods.slice": {"cpu.max": "max 100000"},
        "/kubepods.slice/pod1.slice": {
            "cpu.max": "250000 100000", "memory.max": GiB, "memory.current": 536870912,
            "memory.stat": "anon 1\ninactive_file 100000000\n"},
        "/kubepods.slice/pod1.slice/cri-abc.scope": {
            "cpu.max": "max 100000", "memory.max": "max", "memory.current": 300000000}})
    res = tree.probe()
    assert res.cpu_quota == Fraction(5, 2) and res.cpu_limit == 2.5
    assert res.sources["cpu"] == \
        "quota 250000/100000 at /sys/fs/cgroup/kubepods.slice/pod1.slice (v2)"
    assert res.memory_limit == GiB
    assert res.memory_available == 636870912
    assert "pod1.slice/memory.max" in res.sources["memory"]
    assert res.cgroups["cpu"].how == "mountinfo"
    assert bound(None, res).caps["cpu"] == 3
    assert bound(None, res, rounding="floor").caps["cpu"] == 2
    assert res.warnings == ()


def test_v2_inside_a_private_cgroup_namespace(tree):
    """Case 2: CG ``0::/``, the namespace root is our cgroup; ancestors hidden."""
    v2_tree(tree, "/", {"/": {"cpu.max": "150000 100000", "memory.max": 536870912,
                              "memory.high": 402653184, "memory.current": 0}})
    tree.ns(init=False)
    res = tree.probe()
    assert res.cpu_quota == Fraction(3, 2)
    assert res.memory_limit == 402653184 == res.memory_available
    assert "memory.high" in res.sources["memory"]
    assert any("ancestors may be invisible" in w for w in res.warnings)


def test_root_cgroup_of_the_host_namespace_does_not_warn(tree):
    v2_tree(tree, "/")
    res = tree.probe()
    assert res.cpu_quota is None and res.warnings == ()


def test_v1_cgroupns_host_with_a_docker_root(tree):
    """Case 12: mountinfo root /docker/<id>; the limit only in hierarchical_memory_limit."""
    tree.proc(["4:memory:/docker/7208", "3:cpu,cpuacct:/docker/7208"],
              [v1("cpu,cpuacct", root="/docker/7208"),
               v1("memory", root="/docker/7208", n=3)])
    tree.cg("/sys/fs/cgroup/cpu,cpuacct", {"cpu.cfs_quota_us": -1, "cpu.cfs_period_us": 100000})
    tree.cg("/sys/fs/cgroup/memory", {
        "memory.limit_in_bytes": UNLIMITED_4K, "memory.usage_in_bytes": 10 * 2 ** 20,
        "memory.stat": "hierarchical_memory_limit 268435456\ntotal_inactive_file 0\n"})
    res = tree.probe()
    assert res.cpu_quota is None and res.cpu_limit == 64
    assert res.memory_limit == 256 * 2 ** 20
    assert res.memory_available == 246 * 2 ** 20
    assert res.cgroups["cpu"].leaf == "/sys/fs/cgroup/cpu,cpuacct"
    assert "hierarchical_memory_limit" in res.sources["memory"]
    assert any("ancestors may be invisible" in w for w in res.warnings)


def test_v1_docker_root_with_a_quota_on_the_container(tree):
    tree.proc(["3:cpu,cpuacct:/docker/7208"], [v1("cpu,cpuacct", root="/docker/7208")])
    tree.cg("/sys/fs/cgroup/cpu,cpuacct", {"cpu.cfs_quota_us": 150000,
                                           "cpu.cfs_period_us": 100000})
    assert tree.probe().cpu_quota == Fraction(3, 2)


def test_v2_cgroupns_host_with_a_scope_root(tree):
    """Case 3: MI root and CG both /system.slice/docker-0123.scope (Go, automaxprocs: none)."""
    scope = "/system.slice/docker-0123.scope"
    tree.proc(["0::" + scope], [v2(root=scope)])
    tree.cg("/sys/fs/cgroup", {"cpu.max": "200000 100000"})
    res = tree.probe()
    assert res.cpu_quota == 2 and res.cgroups["cpu"].leaf == "/sys/fs/cgroup"


def _dotdot_tree(tree, pid_in_child):
    """Cases 17/18: cgroupns root /../.. on the cpu mount; our real cgroup is a/b."""
    tree.proc(["1:cpu:/"], [v1("cpu", root="/../..")])
    tree.cg("/sys/fs/cgroup/cpu", {"cgroup.procs": "1\n2"})
    tree.cg("/sys/fs/cgroup/cpu/a", {"cpu.cfs_quota_us": 50000, "cpu.cfs_period_us": 100000,
                                     "cgroup.procs": ""})
    tree.cg("/sys/fs/cgroup/cpu/other", {"cgroup.procs": "%d9" % PID})
    tree.cg("/sys/fs/cgroup/cpu/a/b", {"cpu.cfs_quota_us": -1, "cpu.cfs_period_us": 100000,
                                       "cgroup.procs": "7\n%d\n" % PID if pid_in_child else "7"})
    return tree.probe()


def test_dotdot_root_found_by_scanning_cgroup_procs(tree):
    res = _dotdot_tree(tree, pid_in_child=True)
    cg = res.cgroups["cpu"]
    assert (cg.how, cg.leaf) == ("pid-scan", "/sys/fs/cgroup/cpu/a/b")
    assert cg.chain() == ["/sys/fs/cgroup/cpu/a/b", "/sys/fs/cgroup/cpu/a", "/sys/fs/cgroup/cpu"]
    assert res.cpu_quota == Fraction(1, 2)
    assert res.warnings == ()


def test_dotdot_root_without_our_pid_guesses_the_root_and_warns(tree):
    res = _dotdot_tree(tree, pid_in_child=False)
    cg = res.cgroups["cpu"]
    assert (cg.how, cg.leaf) == ("root-guess", "/sys/fs/cgroup/cpu")
    assert res.cpu_quota is None
    assert len(res.warnings) == 1 and "using the mount root" in res.warnings[0]


def test_hybrid_v1_cpu_beside_v2_unified(tree):
    """Case 14: the v1 cpu line wins over the v2 line for cpu."""
    tree.proc(["1:cpu,cpuacct:/user.slice", "0::/user.slice/session-1.scope"],
              [v1("cpu,cpuacct"), v2("/sys/fs/cgroup/unified")])
    tree.cg("/sys/fs/cgroup/cpu,cpuacct/user.slice", {"cpu.cfs_quota_us": 200000,
                                                      "cpu.cfs_period_us": 100000})
    tree.cg("/sys/fs/cgroup/unified/user.slice/session-1.scope", {"cpu.max": "50000 100000"})
    tree.cg("/sys/fs/cgroup/unified/user.slice", {"pids.max": 100, "pids.current": 10})
    res = tree.probe()
    assert res.cpu_quota == 2 and res.cgroups["cpu"].version == 1
    assert res.cgroups["pids"].version == 2 and res.pids_available == 90


def test_escaped_mount_path_and_colon_in_cgroup_path(tree):
    """Case 20: mount point with \\040, cgroup path with ':'."""
    tree.proc(["0::/svc/a:b"], [v2(r"/mnt/cg\040root")])
    tree.cg("/mnt/cg root/svc/a:b", {"cpu.max": "100000 100000"})
    res = tree.probe()
    assert res.cpu_quota == 1 and res.cgroups["cpu"].mount == "/mnt/cg root"


def test_cpu_max_with_one_field(tree):
    v2_tree(tree, "/a", {"/a": {"cpu.max": "300000"}})
    assert tree.probe().cpu_quota == 3


def test_memory_high_below_memory_max(tree):
    """Case 25: memory.high throttles first: it is the limit."""
    v2_tree(tree, "/a", {"/a": {"memory.max": 2 * GiB, "memory.high": GiB,
                                "memory.current": 0}})
    res = tree.probe()
    assert res.memory_limit == GiB == res.memory_available


def test_64k_page_unlimited_value_is_no_limit(tree):
    """Case 13: the 64K-page sentinel at the leaf and at the root."""
    tree.meminfo(MemAvailable=GiB // 1024)   # no MemTotal to compare with
    tree.proc(["4:memory:/a"], [v1("memory")])
    for path in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/a"):
        tree.cg(path, {"memory.limit_in_bytes": UNLIMITED_64K, "memory.usage_in_bytes": 5,
                       "memory.stat": "hierarchical_memory_limit %d\n" % UNLIMITED_64K})
    res = tree.probe()
    assert res.memory_limit is None
    assert res.memory_available == GiB and res.sources["memory"] == "host MemAvailable"


def test_v1_limit_at_or_above_memtotal_is_no_limit(tree):
    tree.proc(["4:memory:/a"], [v1("memory")])
    tree.cg("/sys/fs/cgroup/memory/a", {"memory.limit_in_bytes": 64 * GiB,
                                        "memory.usage_in_bytes": 0})
    assert tree.probe().memory_limit is None


def test_overcommit_2_commit_limit_binds(tree):
    """Case 26: CommitLimit - Committed_AS is the tightest figure."""
    tree.meminfo(MemTotal=4000000, MemAvailable=3000000, CommitLimit=1000000,
                 Committed_AS=900000)
    tree.write("/proc/sys/vm/overcommit_memory", "2\n")
    res = tree.proc().probe()
    assert res.memory_available == 100000 * 1024
    assert "overcommit_memory=2" in res.sources["memory"]


def test_overcommit_0_ignores_the_commit_limit(tree):
    tree.meminfo(MemAvailable=3000000, CommitLimit=1000000, Committed_AS=900000)
    tree.write("/proc/sys/vm/overcommit_memory", "0\n")
    assert tree.proc().probe().memory_available == 3000000 * 1024


def test_pids_max_on_a_parent(tree):
    """Case 28 on a parent; the leaf has no limit."""
    v2_tree(tree, "/p/c", {"/p": {"pids.max": 64, "pids.current": 40},
                           "/p/c": {"pids.max": "max", "pids.current": 3}})
    res = tree.probe()
    assert res.pids_available == 24
    assert "/sys/fs/cgroup/p/pids.max 64" in res.sources["pids"]
    assert bound(None, res, threads_per_worker=4).caps["pids"] == 6


def test_affinity_list_under_a_fractional_quota(tree):
    """Cpus_allowed_list 0-3,8,10-11 (7 CPUs) under a 2.5-CPU quota."""
    v2_tree(tree, "/a", {"/a": {"cpu.max": "250000 100000"}})
    tree.write("/proc/self/status", "Name:\tpython\nCpus_allowed_list:\t0-3,8,10-11\n")
    res = tree.probe(affinity=None)
    assert res.cpus_allowed == 7
    assert res.cpu_limit == 2.5 and res.cpu_fraction == Fraction(5, 2)


# -- further cases of worker-bounds.md section 6 -------------------------------------

def test_level_without_cpu_max_is_skipped(tree):
    """Case 4: the leaf lacks cpu.max; the parent's quota still applies."""
    v2_tree(tree, "/app.service/worker", {"/app.service": {"cpu.max": "50000 100000"}})
    assert tree.probe().cpu_quota == Fraction(1, 2)


def test_minimum_over_the_chain_with_extra_fields(tree):
    """Case 5: never rounded per level; extra fields accepted."""
    v2_tree(tree, "/a/b/c", {"/a": {"cpu.max": "max 100000"},
                             "/a/b": {"cpu.max": "150000 1000000 0"},
                             "/a/b/c": {"cpu.max": "300000"}})
    res = tree.probe()
    assert res.cpu_quota == Fraction(3, 20) and res.cpu_limit == 0.15
    assert res.warnings == ()


@pytest.mark.parametrize("bad", ["0 100000", "x y", "100000 0", "", "-5 100000"])
def test_invalid_cpu_max_skips_the_level_with_a_warning(tree, bad):
    """Case 6."""
    v2_tree(tree, "/a/b", {"/a": {"cpu.max": "200000 100000"}, "/a/b": {"cpu.max": bad}})
    res = tree.probe()
    assert res.cpu_quota == 2
    assert len(res.warnings) == 1 and "/sys/fs/cgroup/a/b/cpu.max" in res.warnings[0]


@pytest.mark.parametrize("cpu_max, cpus, limit", [
    ("800000 100000", 4, 4),        # case 7: affinity binds
    ("10000 100000", 64, 0.1),      # case 8
    ("150000 1000000", 64, 0.15),   # case 9
])
def test_quota_against_affinity(tree, cpu_max, cpus, limit):
    v2_tree(tree, "/a", {"/a": {"cpu.max": cpu_max}})
    res = tree.probe(affinity=range(cpus))
    assert res.cpu_limit == limit
    assert res.sources["cpu"].startswith("affinity" if limit == cpus else "quota")


def test_only_cgroup_controllers_means_no_limits(tree):
    """Case 10."""
    v2_tree(tree, "/", {"/": {"cgroup.controllers": "cpu memory pids"}})
    res = tree.probe(affinity={0, 1})
    assert (res.cpu_limit, res.cpu_quota, res.memory_limit, res.pids_available) == \
        (2, None, None, None)
    assert res.memory_available == 60 * GiB


def test_empty_proc_files_leave_affinity_only(tree):
    """Case 11."""
    res = tree.proc().probe(affinity={3})
    assert res.cpu_limit == 1 and res.cgroups == {} and res.warnings == ()


def test_without_cpus_allowed_list_all_cpus_are_assumed_with_a_warning(tree):
    res = tree.proc().probe(affinity=None)
    assert res.cpus_allowed == os.cpu_count()
    assert res.warnings[0].startswith("no Cpus_allowed_list under ")


def test_missing_proc_files_do_not_raise(tmp_path):
    res = probe(str(tmp_path), pid=PID, affinity={0}, sched_policy=os.SCHED_OTHER, env={})
    assert res.memory_available is None and res.sources["memory"] == "nothing known"


def test_separate_cpu_and_cpuacct_mounts(tree):
    """Case 15."""
    tree.proc(["1:cpu:/x", "2:cpuacct:/"], [v1("cpu"), v1("cpuacct", n=3)])
    tree.cg("/sys/fs/cgroup/cpu/x", {"cpu.cfs_quota_us": 100000, "cpu.cfs_period_us": 100000})
    tree.cg("/sys/fs/cgroup/cpuacct")
    res = tree.probe()
    assert res.cpu_quota == 1 and res.cgroups["cpu"].mount == "/sys/fs/cgroup/cpu"


def test_v1_unset_leaf_under_a_limited_parent(tree):
    """Case 16 (E4)."""
    tree.proc(["1:cpu:/p/c"], [v1("cpu")])
    tree.cg("/sys/fs/cgroup/cpu/p", {"cpu.cfs_quota_us": 50000, "cpu.cfs_period_us": 100000})
    tree.cg("/sys/fs/cgroup/cpu/p/c", {"cpu.cfs_quota_us": -1, "cpu.cfs_period_us": 100000})
    assert tree.probe().cpu_quota == Fraction(1, 2)


def test_unresolvable_controllers_do_not_break_cpu(tree):
    """Case 19 and automaxprocs #85: name=systemd untranslatable, memory unmounted."""
    tree.proc(["9:name=systemd:/weird", "4:memory:/m", "1:cpu:/c"],
              [v1("name=systemd", "/sys/fs/cgroup/systemd", root="/elsewhere"), v1("cpu")])
    tree.cg("/sys/fs/cgroup/cpu/c", {"cpu.cfs_quota_us": 100000, "cpu.cfs_period_us": 50000})
    res = tree.probe()
    assert res.cpu_quota == 2
    assert set(res.cgroups) == {"cpu"}
    assert res.warnings == ("cgroup v1 memory: listed in /proc/self/cgroup but not mounted; "
                            "its limits are unknown",)


def test_cgroup2_mounted_elsewhere(tree):
    """Case 21."""
    v2_tree(tree, "/a", {"/a": {"cpu.max": "100000"}}, mount="/run/cg2")
    assert tree.probe().cgroups["cpu"].leaf == "/run/cg2/a"


def test_a_later_mount_on_the_same_path_wins(tree):
    """Case 22: the first cgroup2 line is covered by the second (root /a)."""
    tree.proc(["0::/a/b"], [v2(), v2(root="/a")])
    tree.cg("/sys/fs/cgroup/a/b", {"cpu.max": "100000"})
    tree.cg("/sys/fs/cgroup/b", {"cpu.max": "200000"})
    cg = tree.probe().cgroups["cpu"]
    assert (cg.how, cg.leaf) == ("mountinfo", "/sys/fs/cgroup/b")


def test_an_untranslatable_covered_mount_is_passed_over(tree):
    tree.proc(["0::/a"], [v2(root="/../.."), v2()])
    tree.cg("/sys/fs/cgroup/a", {"cpu.max": "100000", "cgroup.procs": ""})
    cg = tree.probe().cgroups["cpu"]
    assert (cg.how, cg.leaf) == ("mountinfo", "/sys/fs/cgroup/a")


def test_mounts_under_sys_fs_cgroup_are_preferred(tree):
    """Case 23: the same controller at /dev/cpu and /sys/fs/cgroup/cpu."""
    tree.proc(["1:cpu:/a"], [v1("cpu", "/dev/cpu"), v1("cpu", n=3)])
    for mount, quota in (("/dev/cpu", 100000), ("/sys/fs/cgroup/cpu", 200000)):
        tree.cg(mount + "/a", {"cpu.cfs_quota_us": quota, "cpu.cfs_period_us": 100000})
    assert tree.probe().cpu_quota == 2


def test_usage_is_read_at_the_limits_level(tree):
    """Case 24: siblings charge the parent; headroom 1000M - (950M - 50M)."""
    m = 10 ** 6
    v2_tree(tree, "/p/leaf", {
        "/p": {"memory.max": 1000 * m, "memory.current": 950 * m,
               "memory.stat": "inactive_file %d\n" % (50 * m)},
        "/p/leaf": {"memory.max": "max", "memory.current": 100 * m}})
    res = tree.probe()
    assert res.memory_available == 100 * m and res.memory_limit == 1000 * m


def test_headroom_never_negative(tree):
    v2_tree(tree, "/p", {"/p": {"memory.max": 100, "memory.current": 500}})
    assert tree.probe().memory_available == 0


def test_meminfo_without_memavailable(tree):
    """Case 27: pre-3.14 kernels."""
    tree.meminfo(MemTotal=8000000, MemFree=1000, Buffers=20, Cached=300, SReclaimable=4)
    res = tree.proc().probe()
    assert res.memory_available == 1324 * 1024
    assert res.memory_total == 8000000 * 1024
    assert "SReclaimable" in res.sources["memory"]


def test_pids_max_max_is_unlimited(tree):
    """Case 29."""
    v2_tree(tree, "/a", {"/a": {"pids.max": "max", "pids.current": 7}})
    assert tree.probe().pids_available is None


def test_process_limit_is_the_least_of_pid_max_and_every_pids_max(tree):
    """What can exist at all, whatever is in use: a worker count above it cannot be meant."""
    tree.write("/proc/sys/kernel/pid_max", "4194304\n")
    v2_tree(tree, "/p/c", {"/p": {"pids.max": 5000, "pids.current": 4000},
                           "/p/c": {"pids.max": "max", "pids.current": 3}})
    res = tree.probe()
    assert res.process_limit == 5000 and res.pids_available == 1000
    assert res.sources["process_limit"] == "/sys/fs/cgroup/p/pids.max 5000 (v2)"
    tree.write("/proc/sys/kernel/pid_max", "1000\n")
    res = tree.probe()
    assert (res.process_limit, res.sources["process_limit"]) == (1000, "kernel.pid_max 1000")


@pytest.mark.parametrize("pid_max", [None, "", "junk\n", "0\n"])
def test_process_limit_unknown_without_a_usable_pid_max(tree, pid_max):
    if pid_max is not None:
        tree.write("/proc/sys/kernel/pid_max", pid_max)
    res = tree.proc().probe()
    assert res.process_limit is None and res.sources["process_limit"] == "no limit found"


def test_process_limit_on_this_host_is_pid_max_or_tighter():
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    assert 0 < probe().process_limit <= pid_max


@pytest.mark.parametrize("text, cpus", [
    ("0-3,8,10-11", {0, 1, 2, 3, 8, 10, 11}), ("", set()), ("5\n", {5})])
def test_parse_cpu_list(text, cpus):
    """Case 30."""
    assert kernelread.parse_cpu_list(text) == cpus


def test_cpuset_cpus_is_never_counted(tree):
    """Case 31: cpuset.cpus 0-15 but the affinity mask is {0, 1}."""
    tree.proc(["3:cpuset:/"], [v1("cpuset")])
    tree.cg("/sys/fs/cgroup/cpuset", {"cpuset.cpus": "0-15"})
    assert tree.probe(affinity={0, 1}).cpu_limit == 2


@pytest.mark.parametrize("policy", [os.SCHED_FIFO, os.SCHED_RR, 6,
                                    os.SCHED_FIFO | os.SCHED_RESET_ON_FORK])
def test_realtime_policies_ignore_the_quota(tree, policy):
    """Case 32."""
    v2_tree(tree, "/a", {"/a": {"cpu.max": "50000 100000"}})
    res = tree.probe(affinity={0, 1}, sched_policy=policy)
    assert res.cpu_quota is None and res.cpu_limit == 2
    assert "real-time" in res.sources["cpu"]


def test_python_cpu_count_replaces_the_cpu_input_only(tree):
    """Case 33: memory and pids still apply."""
    v2_tree(tree, "/a", {"/a": {"cpu.max": "800000 100000", "pids.max": 10,
                                "pids.current": 0}})
    res = tree.probe(affinity=range(16), env={"PYTHON_CPU_COUNT": "3"})
    assert res.cpu_limit == 3 and res.pids_available == 10
    assert res.sources["cpu"] == "PYTHON_CPU_COUNT=3 (affinity 16)"


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_invalid_python_cpu_count_is_ignored_with_a_warning(tree, value):
    res = tree.proc().probe(affinity={0, 1}, env={"PYTHON_CPU_COUNT": value})
    assert res.cpu_limit == 2 and "PYTHON_CPU_COUNT" in res.warnings[0]


def test_deleted_suffix_is_stripped(tree):
    """Case 34."""
    v2_tree(tree, "/a/b", {"/a/b": {"cpu.max": "100000"}})
    tree.proc(["0::/a/b (deleted)"], [v2()])
    assert tree.probe().cgroups["cpu"].leaf == "/sys/fs/cgroup/a/b"


def test_a_new_probe_sees_a_rewritten_cpu_max(tree):
    """Case 35: nothing is cached."""
    v2_tree(tree, "/a", {"/a": {"cpu.max": "100000"}})
    assert tree.probe().cpu_quota == 1
    tree.cg("/sys/fs/cgroup/a", {"cpu.max": "300000 100000"})
    assert tree.probe().cpu_quota == 3


def test_v1_memory_limit_on_a_parent_with_inactive_file(tree):
    tree.proc(["4:memory:/p/c"], [v1("memory")])
    tree.cg("/sys/fs/cgroup/memory/p", {
        "memory.limit_in_bytes": GiB, "memory.usage_in_bytes": GiB // 2,
        "memory.stat": "inactive_file 1\ntotal_inactive_file %d\n" % (GiB // 4)})
    tree.cg("/sys/fs/cgroup/memory/p/c", {
        "memory.limit_in_bytes": UNLIMITED_4K, "memory.usage_in_bytes": 100,
        "memory.stat": "hierarchical_memory_limit %d\n" % GiB})
    res = tree.probe()
    assert res.memory_available == GiB - GiB // 4
    assert res.memory_limit == GiB


def test_host_memory_only_tightens(tree):
    tree.meminfo(MemTotal=8 * GiB // 1024, MemAvailable=GiB // 1024)
    v2_tree(tree, "/a", {"/a": {"memory.max": 4 * GiB, "memory.current": 0}})
    res = tree.probe()
    assert res.memory_available == GiB and res.memory_limit == 4 * GiB


# -- pure helpers -----------------------------------------------------------------------

def test_parse_mountinfo_unescapes_and_skips_malformed_lines():
    mounts = kernelread.parse_mountinfo(
        "garbage\n"
        r"41 31 0:38 /a\134b /x\040y\011z rw - cgroup2 cgroup2 rw,nsdelegate" "\n")
    assert mounts == [kernelread.Mount("/a\\b", "/x y\tz", "cgroup2",
                                       frozenset({"rw", "nsdelegate"}))]


def test_parse_proc_cgroup():
    v1_paths, v2_path = kernelread.parse_proc_cgroup(
        "12:cpu,cpuacct:/a:b\n1:name=systemd:/s\nbad line\n0::/u (deleted)\n")
    assert v1_paths == {"cpu": "/a:b", "cpuacct": "/a:b"} and v2_path == "/u"


@pytest.mark.parametrize("path, root, expected", [
    ("/a/b", "/", "/m/a/b"), ("/", "/", "/m"), ("/d/1", "/d/1", "/m"),
    ("/d/1/x", "/d/1", "/m/x"), ("/d/10", "/d/1", None), ("/", "/..", None),
    ("/../x", "/", None)])
def test_translate(path, root, expected):
    assert kernelread.translate(path, kernelread.Mount(root, "/m", "cgroup2", frozenset())) \
        == expected


LIMITS = ("Limit                     Soft Limit           Hard Limit           Units     \n"
          "Max processes             %s                  200                  processes \n")


@pytest.mark.parametrize("soft, uid, caps, capped", [
    ("100", "1000", 0, True), ("100", "1000", 1 << 24, False), ("100", "1000", 1 << 21, False),
    ("100", "0", 0, False), ("unlimited", "1000", 0, False)])
def test_rlimit_nproc_caps_unprivileged_users(tree, soft, uid, caps, capped):
    """Read from /proc/self/limits and status, fake tree or real root alike."""
    tree.write("/proc/self/limits", LIMITS % soft)
    tree.write("/proc/self/status", "Uid:\t%s\t%s\t%s\t%s\nCapEff:\t%016x\n"
               % (uid, uid, uid, uid, caps))
    res = tree.proc().probe()
    assert (res.pids_available == 100) == capped
    assert res.sources["pids"].startswith("RLIMIT_NPROC 100") == capped


def test_rlimit_nproc_on_this_host_is_the_getrlimit_one():
    import resource
    soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    with open("/proc/self/limits") as f, open("/proc/self/status") as g:
        cap = kernelread.nproc_cap(f.read(), kernelread.parse_status(g.read()))
    assert cap is None or cap[0] == soft


# -- this host ------------------------------------------------------------------------

def test_probe_on_this_host_is_sane_and_fast():
    res = probe()
    assert res.cpus_allowed == len(os.sched_getaffinity(0))
    assert 0 < res.cpu_limit <= os.cpu_count()
    assert 0 < res.memory_total
    assert res.memory_available is not None and 0 <= res.memory_available <= res.memory_total
    assert res.pids_available is None or res.pids_available >= 0
    assert {"cpu", "memory", "pids"} <= set(res.sources)
    elapsed = []
    for _ in range(5):
        start = time.perf_counter()
        probe()
        elapsed.append(time.perf_counter() - start)
    assert min(elapsed) < 0.005
