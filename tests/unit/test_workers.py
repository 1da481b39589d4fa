"""bound(): the worker-count policy over probed resources."""

import dataclasses
from fractions import Fraction
import math

from hypothesis import given
from hypothesis import strategies as st
import pytest

from safe_launch.resources import Resources
from safe_launch.workers import bound
from safe_launch.workers import memory_reserve
from safe_launch.workers import MIN_RESERVE
from safe_launch.workers import round_cpus

MiB = 2 ** 20
GiB = 2 ** 30
PER_WORKER = 80 * MiB


def res(cpus=2, quota=None, memory=None, limit=None, total=None, pids=None, cpu_source=None):
    """Resources as probe() would return them."""
    cpu = Fraction(cpus) if quota is None else min(Fraction(cpus), quota)
    return Resources(
        cpu_limit=float(cpu), cpus_allowed=cpus, cpu_quota=quota, memory_available=memory,
        memory_limit=limit, memory_total=total, pids_available=pids, cgroups={},
        sources={"cpu": cpu_source or "affinity %d" % cpus, "memory": "test",
                 "pids": "test"},
        warnings=())


def test_summary_of_a_clamp_on_this_two_cpu_machine():
    decision = bound(64, res(memory=MIN_RESERVE + 95 * PER_WORKER))
    assert decision.summary() == ("workers=2 (requested 64, bound by cpu: 2.0 CPUs (affinity 2), "
                                  "memory allows 95 workers, pids unlimited; clamp)")
    assert (decision.effective, decision.bound, decision.bound_by, decision.refused) == \
        (2, 2, "cpu", False)
    assert decision.caps == {"cpu": 2, "memory": 95, "pids": None}


def test_auto_uses_the_bound():
    for requested in (None, 0):
        decision = bound(requested, res(cpus=4, quota=Fraction(3, 2)))
        assert (decision.effective, decision.bound_by) == (2, "cpu")
        assert "requested auto" in decision.summary()


def test_a_request_within_the_bound_is_kept():
    decision = bound(1, res(cpus=4))
    assert (decision.effective, decision.bound, decision.bound_by) == (1, 4, None)
    assert decision.summary().startswith("workers=1 (requested 1, bound 4: cpu allows 4 workers, ")


def test_refuse_marks_a_request_above_the_bound():
    decision = bound(64, res(), policy="refuse")
    assert decision.refused and decision.bound == 2 and decision.bound_by == "cpu"
    assert decision.summary().startswith("refusing workers=64 above the bound 2 (")
    assert not bound(2, res(), policy="refuse").refused
    assert not bound(None, res(), policy="refuse").refused


def test_off_keeps_the_request_but_auto_still_uses_the_bound():
    assert bound(64, res(), policy="off").effective == 64
    assert bound(64, res(), policy="off").bound_by is None
    assert bound(None, res(cpus=64, quota=Fraction(3)), policy="off").effective == 3


@pytest.mark.parametrize("quota, rounding, cap", [
    (Fraction(5, 2), "ceil", 3), (Fraction(5, 2), "floor", 2), (Fraction(5, 2), "nearest", 3),
    (Fraction(12, 5), "nearest", 2), (Fraction(3, 20), "ceil", 1), (Fraction(2), "ceil", 2)])
def test_cpu_rounding(quota, rounding, cap):
    decision = bound(None, res(cpus=8, quota=quota), rounding=rounding)
    assert decision.caps["cpu"] == cap
    assert decision.reasons == ("auto: %d, bound by cpu" % cap,)


def test_ceil_is_exact_on_fractions():
    assert round_cpus(Fraction(300000, 100000)) == 3
    assert round_cpus(Fraction(300001, 100000)) == 4


def test_a_fractional_cpu_floored_to_zero_is_degraded():
    decision = bound(None, res(quota=Fraction(1, 2)), rounding="floor")
    assert decision.effective == 1 and "degraded: cpu" in decision.reasons
    assert decision.figures["cpu"] == "0.5 CPUs (affinity 2) -> 0 (floor)"


def test_memory_cap_keeps_a_reserve_of_a_tenth_of_the_limit():
    """Case 1 of the notes: 636870912 bytes of headroom in a 1 GiB pod."""
    resources = res(cpus=8, quota=Fraction(5, 2), memory=636870912, limit=GiB)
    assert memory_reserve(resources) == GiB // 10
    decision = bound(None, resources, per_worker_memory=192 * MiB)
    assert (decision.caps["memory"], decision.effective, decision.bound_by) == (2, 2, "memory")
    assert decision.summary().startswith(
        "workers=2 (requested auto, bound by memory: memory allows 2 workers (607 MiB available "
        "- 102 MiB reserve, 192 MiB/worker; test), cpu allows 3 workers, pids unlimited")


def test_memory_reserve_without_a_cgroup_limit():
    assert memory_reserve(res(total=64 * GiB)) == 64 * GiB // 20
    assert memory_reserve(res(total=GiB)) == MIN_RESERVE
    assert memory_reserve(res()) == MIN_RESERVE


@pytest.mark.parametrize("limit_mib,expected", [(200, 1), (250, 1), (300, 2), (350, 2),
                                                (640, 6), (1024, 11)])
def test_the_default_memory_bound_against_the_measured_figures(limit_mib, expected):
    """A master using 36 MB at the probe and 130 MB serving, workers 73 MB each
    once they served (tests/functional/test_memory_bound.py): the default's
    count fits in the limit, and one more would not fit with the reserve."""
    limit = limit_mib * MiB
    decision = bound(None, res(cpus=64, memory=limit - 36 * MiB, limit=limit))
    assert decision.effective == expected, decision.summary()
    if expected > 1:    # 1 is the floor: a master and one worker need about 203 MB
        assert 130 * MiB + expected * 73 * MiB <= limit


def test_too_little_memory_is_one_degraded_worker():
    decision = bound(8, res(cpus=8, memory=100 * MiB))
    assert decision.effective == 1 and decision.bound_by == "memory"
    assert "degraded: memory" in decision.reasons


def test_pids_cap_counts_threads():
    assert bound(None, res(cpus=64, pids=24), threads_per_worker=4).effective == 6
    decision = bound(None, res(pids=10))
    assert decision.effective == 1 and "degraded: pids" in decision.reasons
    assert decision.bound_by == "pids"


def test_max_workers_is_an_absolute_cap():
    decision = bound(None, res(cpus=64), max_workers=5)
    assert (decision.effective, decision.bound_by) == (5, "max_workers")


def test_ties_name_the_cpu_first():
    decision = bound(None, res(memory=MIN_RESERVE + 2 * PER_WORKER))
    assert decision.caps == {"cpu": 2, "memory": 2, "pids": None}
    assert decision.bound_by == "cpu"


@pytest.mark.parametrize("kwargs", [
    {"requested": 2, "policy": "strict"}, {"requested": 2, "rounding": "up"},
    {"requested": -1}, {"requested": 2, "per_worker_memory": 0},
    {"requested": 2, "threads_per_worker": 0}, {"requested": 2, "max_workers": 0}])
def test_invalid_arguments(kwargs):
    kwargs = dict(kwargs)
    requested = kwargs.pop("requested")
    with pytest.raises(ValueError):
        bound(requested, res(), **kwargs)


def test_decision_is_frozen_and_serialisable():
    decision = bound(3, res())
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.effective = 5
    assert decision.as_dict()["effective"] == 2


# -- properties ----------------------------------------------------------------------

resources_st = st.builds(
    res,
    cpus=st.integers(1, 512),
    quota=st.none() | st.builds(Fraction, st.integers(1000, 10 ** 7), st.integers(1000, 10 ** 6)),
    memory=st.none() | st.integers(0, 2 ** 42),
    limit=st.none() | st.integers(1, 2 ** 42),
    total=st.none() | st.integers(1, 2 ** 42),
    pids=st.none() | st.integers(0, 10 ** 6))
requested_st = st.none() | st.integers(0, 10 ** 4)
options_st = st.fixed_dictionaries({
    "policy": st.sampled_from(["clamp", "refuse", "off"]),
    "rounding": st.sampled_from(["ceil", "floor", "nearest"]),
    "per_worker_memory": st.integers(1, 2 ** 32),
    "threads_per_worker": st.integers(1, 256),
    "max_workers": st.none() | st.integers(1, 1000)})


@given(requested_st, resources_st, options_st)
def test_policy_properties(requested, resources, options):
    d = bound(requested, resources, **options)
    known = [cap for cap in d.caps.values() if cap is not None]
    assert d.effective >= 1 and d.bound == min(known) >= 1
    assert d.bound <= max(1, math.ceil(resources.cpu_fraction))
    assert d.bound_by is None or d.caps[d.bound_by] == d.bound
    assert (d.caps["memory"] is None) == (resources.memory_available is None)
    assert (d.caps["pids"] is None) == (resources.pids_available is None)
    auto = not requested
    assert d.refused == (options["policy"] == "refuse" and not auto and requested > d.bound)
    if auto:
        assert d.effective == d.bound and d.bound_by is not None
    elif options["policy"] == "off":
        assert d.effective == requested
    else:
        assert d.effective == min(requested, d.bound)
    if options["policy"] == "clamp":
        assert d.effective <= d.bound
    for name in d.caps:
        if "degraded: %s" % name in d.reasons:
            assert d.caps[name] == 1
    assert d.summary().startswith("refusing" if d.refused else "workers=%d" % d.effective)


@given(requested_st, resources_st, st.integers(0, 2 ** 40), options_st)
def test_more_memory_never_lowers_the_bound(requested, resources, extra, options):
    if resources.memory_available is None:
        return
    more = dataclasses.replace(resources, memory_available=resources.memory_available + extra)
    assert bound(requested, more, **options).bound >= \
        bound(requested, resources, **options).bound


@given(st.builds(Fraction, st.integers(1, 10 ** 7), st.integers(1, 10 ** 6)))
def test_roundings_bracket_the_limit(cpus):
    floor, nearest, ceil = (round_cpus(cpus, r) for r in ("floor", "nearest", "ceil"))
    assert floor <= cpus <= ceil and ceil - floor <= 1
    assert floor <= nearest <= ceil and abs(nearest - cpus) <= Fraction(1, 2)


@pytest.mark.parametrize("policy", ["clamp", "refuse", "off"])
def test_a_count_no_process_limit_can_hold_is_refused_under_every_policy(policy):
    limits = dataclasses.replace(res(), process_limit=32768,
                                 sources={"cpu": "affinity 2", "process_limit":
                                          "kernel.pid_max 32768"})
    for requested in (32768, 32769, 10 ** 9):
        d = bound(requested, limits, policy=policy, option="[scheduler] workers")
        assert d.refused and d.impossible, d
        assert d.summary() == (
            "refusing [scheduler] workers = %d: with the master that is more processes than "
            "can exist (process limit 32768: kernel.pid_max 32768); no worker_bound policy "
            "keeps it" % requested)
    d = bound(32767, limits, policy=policy)
    assert not d.impossible and d.refused == (policy == "refuse")
    assert not bound(None, limits, policy=policy).refused


@given(requested_st, resources_st, options_st)
def test_a_known_process_limit_is_never_exceeded(requested, resources, options):
    limited = dataclasses.replace(resources, process_limit=64)
    d = bound(requested, limited, **options)
    assert d.refused or not requested or d.effective + 1 <= 64
