"""The memory bound against the real scheduler in real v1 memory cgroups (issue 19).

Stock nova-scheduler and nova-scheduler-safe, ``[scheduler] workers = 4``,
side by side, each in a memory cgroup of its own with the same limit, both
loaded with RPC pings (the two services' workers share the ``scheduler``
queue).  The load matters: right after the fork a worker's pages are
shared with the master, but Python's reference counts and garbage
collector write to them, so a worker's own memory grows from about 25 MB
(USS) at idle to about 70 MB after a few hundred calls; a count that fits
at idle can be killed by the OOM killer under load.

- Roomy limit: stock's 4 workers survive the load; safe runs as many (never
  fewer than stock where stock survives).
- Tight limit: stock's 4 workers do not survive the load (the OOM killer
  kills in its cgroup); safe runs fewer and survives it.

"Survives": no OOM kill in the cgroup (``oom_kill`` in memory.oom_control;
no dmesg needed), the master alive and its worker count unchanged.  The
CPU bound is set aside (PYTHON_CPU_COUNT=4) so that memory is what bounds.
"""

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.functional.conftest import bin_path, until
from tests.realkernel import test_cgroup_v1_workers as cgroup_v1

PREFIX = "nova-scheduler-safe:"
MIB = 2 ** 20
ROOMY = 640 * MIB
TIGHT = 300 * MIB
PINGS = 400      # 50 per worker: a worker's own memory steps up within the first 50


def _skip_reason():
    reason = cgroup_v1._REASON
    if reason is None and cgroup_v1.v1_parent("memory") is None:
        reason = "no cgroup v1 memory controller here"
    return reason


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def oom_kills(cgroup):
    with open(os.path.join(cgroup, "memory.oom_control")) as f:
        fields = dict(line.split() for line in f if line.strip())
    return int(fields.get("oom_kill", 0))


def peak_mib(cgroup):
    with open(os.path.join(cgroup, "memory.max_usage_in_bytes")) as f:
        return int(f.read()) >> 20


def rpc_load(url, count):
    """(replies, failures) of ``count`` pings from one client process."""
    result = subprocess.run([sys.executable, "-m", "tests.functional.rpc", url, "scheduler",
                             "load", str(count)], capture_output=True, text=True, timeout=600)
    replies, failures = result.stdout.split()[-2:]
    return int(replies), int(failures)


def run_side_by_side(make_env, launch, rabbit, limit):
    """Stock and safe under ``limit`` each, loaded; what each did."""
    seen = {}
    with cgroup_v1.v1_memory_cgroup(limit) as stock_cg, \
            cgroup_v1.v1_memory_cgroup(limit) as safe_cg:
        procs = {}
        for name, cgroup in (("nova-scheduler", stock_cg), ("nova-scheduler-safe", safe_cg)):
            env = make_env(workers=4, transport_url=rabbit.url)
            # Enter the cgroup before exec: every page of the service is charged there.
            procs[name] = launch(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"',
                                  cgroup, bin_path(name), "--config-file", env.conf],
                                 env=dict(os.environ, PYTHON_CPU_COUNT="4"))
        safe = procs["nova-scheduler-safe"]
        assert until(lambda: safe.lines(PREFIX + " ready:"), 90), safe.output()[-3000:]
        decided = re.search(r"workers=(\d+) \(.*", safe.output())
        workers = {"nova-scheduler": 4, "nova-scheduler-safe": int(decided.group(1))}
        for name, proc in procs.items():
            until(lambda: len(proc.children()) >= workers[name], 90)
        started = {name: len(proc.children()) for name, proc in procs.items()}
        replies, failures = rpc_load(rabbit.url, PINGS)
        for name, cgroup in (("nova-scheduler", stock_cg), ("nova-scheduler-safe", safe_cg)):
            proc = procs[name]
            seen[name] = {
                "workers": workers[name], "started": started[name],
                "oom_kills": oom_kills(cgroup), "peak_mib": peak_mib(cgroup),
                "alive": proc.proc.poll() is None,
                "children": len(proc.children())}
        seen["decision"] = decided.group(0)
        seen["load"] = (replies, failures)
        for proc in procs.values():
            if proc.proc.poll() is None:
                proc.signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            proc.kill()
    return seen


def survived(facts):
    return facts["oom_kills"] == 0 and facts["alive"] and facts["children"] == facts["workers"]


def test_safe_runs_as_many_workers_as_fit_and_never_fewer_than_a_surviving_stock(
        make_env, launch, rabbit):
    roomy = run_side_by_side(make_env, launch, rabbit, ROOMY)
    stock, safe = roomy["nova-scheduler"], roomy["nova-scheduler-safe"]
    assert roomy["load"][0] >= PINGS // 2, roomy
    assert survived(stock), roomy           # else the roomy limit is not roomy
    assert safe["workers"] >= stock["workers"], roomy
    assert survived(safe), roomy

    tight = run_side_by_side(make_env, launch, rabbit, TIGHT)
    stock, safe = tight["nova-scheduler"], tight["nova-scheduler-safe"]
    assert stock["started"] == 4 and not survived(stock), tight   # fits idle, not loaded
    assert 1 <= safe["workers"] < 4, tight
    assert survived(safe), tight
    print("memory bound figures:", roomy, tight)
