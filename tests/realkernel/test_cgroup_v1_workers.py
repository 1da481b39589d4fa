"""Real kernel: a v1 CPU quota bounds the worker count (root only, opt-in).

Runs when ``SAFE_LAUNCH_REAL_CGROUP_TESTS=1`` and as root on a host with a
cgroup v1 ``cpu`` controller; each test creates its own cgroups below ours
and always removes them.  :func:`v1_cpu_cgroup` and :func:`attach` are
reusable by launcher-level tests.
"""

import contextlib
import errno
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from safe_launch import kernelread

ENV_FLAG = "SAFE_LAUNCH_REAL_CGROUP_TESTS"

# Probes inside the cgroup once the parent has moved it there (it then writes a line).
CHILD = """
import json, sys
sys.stdin.readline()
from safe_launch import resources, workers
res = resources.probe()
decision = workers.bound(None, res)
print(json.dumps({"cpu_limit": res.cpu_limit, "source": res.sources["cpu"],
                  "leaf": res.cgroups["cpu"].leaf, "how": res.cgroups["cpu"].how,
                  "effective": decision.effective, "bound_by": decision.bound_by}))
"""


def v1_parent(controller):
    """Our own cgroup v1 ``controller`` directory, or None when the host has no
    v1 hierarchy with that controller."""
    with open("/proc/self/mountinfo") as f:
        mounts = kernelread.parse_mountinfo(f.read())
    with open("/proc/self/cgroup") as f:
        v1, _ = kernelread.parse_proc_cgroup(f.read())
    for mount in mounts:
        if mount.fstype == "cgroup" and controller in mount.superopts and controller in v1:
            leaf = kernelread.translate(v1[controller], mount)
            if leaf is not None and os.path.isdir(leaf):
                return leaf
    return None


def v1_cpu_parent():
    return v1_parent("cpu")


def _skip_reason():
    if os.environ.get(ENV_FLAG) != "1":
        return "real-kernel cgroup tests are opt-in: set %s=1" % ENV_FLAG
    if os.geteuid() != 0:
        return "creating cgroups needs root"
    if v1_cpu_parent() is None:
        return ("no cgroup v1 cpu controller here: no 'cgroup' mount lists 'cpu' in "
                "/proc/self/mountinfo (cgroup v2-only host?)")
    return None


_REASON = _skip_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


def _write(cgroup, name, value):
    with open(os.path.join(cgroup, name), "w") as f:
        f.write("%s\n" % value)


def attach(cgroup, pid):
    """Move process ``pid`` (all its threads) into ``cgroup``."""
    _write(cgroup, "cgroup.procs", pid)


def _evacuate(cgroup, parent):
    """Move every process left in ``cgroup`` back to ``parent``."""
    for _ in range(100):
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            pids = f.read().split()
        if not pids:
            return
        for pid in pids:
            try:
                attach(parent, pid)
            except ProcessLookupError:
                pass


@contextlib.contextmanager
def v1_cpu_cgroup(quota, period=100000, parent=None):
    """A new v1 cpu cgroup with ``cpu.cfs_quota_us``/``cpu.cfs_period_us``; yields its path.

    Created below ``parent`` (default: our own cpu cgroup).  On exit,
    processes still inside go back to ``parent`` and the cgroup is removed.
    """
    settings = [("cpu.cfs_period_us", period), ("cpu.cfs_quota_us", quota)]
    with v1_cgroup(parent or v1_cpu_parent(), settings) as cgroup:
        yield cgroup


@contextlib.contextmanager
def v1_memory_cgroup(limit, parent=None):
    """A new v1 memory cgroup with ``memory.limit_in_bytes`` = ``limit``, below
    ``parent`` (default: our own memory cgroup); removed on exit."""
    with v1_cgroup(parent or v1_parent("memory"),
                   [("memory.limit_in_bytes", limit)]) as cgroup:
        yield cgroup


@contextlib.contextmanager
def v1_cgroup(parent, settings):
    """A new cgroup below ``parent`` with ``settings`` ((file, value) in order) written."""
    cgroup = os.path.join(parent, "safe-launch-test-" + uuid.uuid4().hex[:12])
    os.mkdir(cgroup)
    try:
        for name, value in settings:
            _write(cgroup, name, value)
        yield cgroup
    finally:
        _evacuate(cgroup, parent)
        for attempt in range(50):
            try:
                os.rmdir(cgroup)
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or attempt == 49:
                    raise
                time.sleep(0.05)


def probe_inside(cgroup):
    """Run a fresh Python in ``cgroup``: its probe() and bound(None) as a dict."""
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        attach(cgroup, child.pid)
        out, _ = child.communicate("go\n", timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    return json.loads(out)


@pytest.fixture
def two_cpus():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs or more to tell a 1-CPU quota from the affinity")


def test_one_cpu_quota_bounds_workers_to_one(two_cpus):
    with v1_cpu_cgroup(quota=100000, period=100000) as cgroup:
        seen = probe_inside(cgroup)
    assert not os.path.exists(cgroup)
    assert (seen["leaf"], seen["how"]) == (cgroup, "mountinfo")
    assert seen["cpu_limit"] == 1.0
    assert seen["source"] == "quota 100000/100000 at %s (v1)" % cgroup
    assert (seen["effective"], seen["bound_by"]) == (1, "cpu")


def test_quota_on_the_parent_applies_below_an_unset_leaf(two_cpus):
    """E4: the leaf's quota is -1; its parent's half CPU still throttles it."""
    with v1_cpu_cgroup(quota=50000) as outer:
        with v1_cpu_cgroup(quota=-1, parent=outer) as inner:
            seen = probe_inside(inner)
    assert not os.path.exists(outer)
    assert seen["cpu_limit"] == 0.5 and seen["leaf"] == inner
    assert (seen["effective"], seen["bound_by"]) == (1, "cpu")
