"""The worker count, bounded end to end with the real scheduler."""

import os
import re
import signal

import pytest

from tests.functional.conftest import bin_path, ready, until
from tests.realkernel import test_cgroup_v1_workers as cgroup_v1

PREFIX = "nova-scheduler-safe:"


def effective(proc):
    match = re.search(r"workers=(\d+)", proc.output())
    return int(match.group(1)) if match else None


def test_64_workers_are_clamped_to_the_usable_cpus(make_env, launch):
    env = make_env(workers=64)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: ready(proc), 30), proc.output()
    cpus = len(os.sched_getaffinity(0))
    assert effective(proc) == cpus, proc.lines(PREFIX)
    assert "requested 64" in proc.output()
    assert until(lambda: len(proc.children()) == cpus, 10), proc.children()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_64_workers_are_refused_under_the_refuse_policy(make_env, launch):
    env = make_env(workers=64, extra="\n[safe_launch]\nworker_bound = refuse\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert proc.wait(30) == 78
    errors = proc.lines(PREFIX + " workers:")
    assert errors and "requested 64" in errors[0], proc.output()
    assert env.services("nova-scheduler") == []


@pytest.mark.skipif(cgroup_v1._REASON is not None, reason=cgroup_v1._REASON or "")
def test_one_cpu_cgroup_quota_gives_one_worker_where_stock_forks_two(make_env, launch):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs to tell a 1-CPU quota from the affinity")
    counts = {}
    with cgroup_v1.v1_cpu_cgroup(quota=100000, period=100000) as cgroup:
        for name in ("nova-scheduler", "nova-scheduler-safe"):
            env = make_env(workers=None)
            # Enter the cgroup before exec, so no fork escapes it.
            proc = launch(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup,
                           bin_path(name), "--config-file", env.conf])
            assert until(lambda: env.services("nova-scheduler"), 30), proc.output()
            until(lambda: len(proc.children()) >= 2, 5)
            counts[name] = len(proc.children())
            proc.signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    assert counts == {"nova-scheduler": 2, "nova-scheduler-safe": 1}
