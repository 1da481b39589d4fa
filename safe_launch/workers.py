"""How many workers to fork: the request, bounded by what the process may use.

Pure policy (like automaxprocs' ``maxprocs``) over a
:class:`safe_launch.resources.Resources`; no I/O.

- CPU cap: the CPU limit (affinity and the tightest cgroup quota) rounded
  once: ``ceil`` (default: Go 1.25, OpenJDK), ``floor`` (automaxprocs) or
  ``nearest`` (half up, gnulib); never below 1.
- Memory cap: ``(memory_available - reserve) // per_worker_memory``, the
  reserve being ``max(96 MiB, 10% of the tightest cgroup limit)``, or 5% of
  MemTotal when no cgroup limits memory: room for what the master still
  grows after the probe and the page cache the service needs.  So the
  master's own memory + N workers' own + the reserve fit in the limit.
- Pids cap: ``pids_available // threads_per_worker`` (pids.max counts threads).
- Any cap below 1 becomes 1 with ``degraded: <resource>`` in the reasons.
- A request that, with the master, exceeds the process limit
  (kernel.pid_max, a cgroup pids.max: no more processes can exist at all)
  cannot be meant: refused under every policy, ``off`` included.
"""

import dataclasses
import fractions
import math

from safe_launch import recordtype

POLICIES = ("clamp", "refuse", "off")
ROUNDINGS = ("ceil", "floor", "nearest")
# The probe runs before the service is created: a nova 34 scheduler master
# then uses about 36 MB and grows to about 130 MB RSS once it serves
# (measured in a v1 memory cgroup, tests/functional/test_memory_bound.py).
MIN_RESERVE = 96 * 2 ** 20
# A nova 34 scheduler worker's own memory (USS from /proc/PID/smaps_rollup),
# measured on this project's 2-CPU machines: 23 MB at idle, right after the
# fork; 70-73 MB once it has served RPC calls (from the first hundred on:
# reference counts and the garbage collector write to the pages it shared
# with the master, so they are copied), then flat.  Plus 10%.  The master's
# own memory is what the probe reads as used plus the reserve.  Large
# clouds: see [safe_launch] worker_memory_mb.
WORKER_MEMORY_MB = 80
# Ties name the first resource in this order.
_ORDER = ("cpu", "memory", "pids", "max_workers")


class WorkerDecision(recordtype.Frozen):
    """The worker count decided, and why.

    ``requested`` is the configured count (None or 0: auto); ``bound`` the
    smallest cap; ``bound_by`` the resource that lowered the count below the
    request (or set it, for auto), None when nothing did; ``caps`` the cap per
    resource (None: unlimited); ``figures`` one line per resource saying where
    its cap came from.  When ``refused`` the launch must exit 78.
    """

    requested: int | None
    effective: int
    bound: int
    bound_by: str | None
    caps: dict
    figures: dict
    policy: str
    refused: bool
    reasons: tuple
    option: str = "workers"             # how the operator names the request
    process_limit: int | None = None    # Resources.process_limit
    impossible: bool = False            # requested above process_limit: refused always

    def summary(self):
        """The decision in one line, for the console and the events.

        E.g. ``workers=2 (requested 64, bound by cpu: 2.0 CPUs (affinity 2),
        memory allows 95 workers, pids unlimited; clamp)``: each cap is a
        worker count, never a quantity of the resource.
        """
        if self.impossible:
            return ("refusing %s = %d: with the master that is more processes than can exist "
                    "(process limit %d: %s); no worker_bound policy keeps it" % (
                        self.option, self.requested, self.process_limit,
                        self.figures["process_limit"]))
        requested = self.requested or "auto"
        detail = [self.figures[self.bound_by]] if self.bound_by else []
        detail += ["%s unlimited" % name if cap is None else allows(name, cap)
                   for name, cap in self.caps.items() if name != self.bound_by]
        bound = ("bound by " + self.bound_by) if self.bound_by else "bound %d" % self.bound
        body = "requested %s, %s: %s; %s)" % (requested, bound, ", ".join(detail), self.policy)
        if self.refused:
            return "refusing workers=%s above the bound %d (%s" % (requested, self.bound, body)
        return "workers=%d (%s" % (self.effective, body)

    def as_dict(self):
        return dataclasses.asdict(self)


def allows(name, workers):
    """``memory allows 111 workers``: a cap read as a worker count, not megabytes."""
    return "%s allow%s %d worker%s" % (name, "" if name == "pids" else "s", workers,
                                       "" if workers == 1 else "s")


class OneProcess(recordtype.Frozen):
    """The workers decision of a service without a worker count option
    (``ServiceSpec.workers_opt`` None): it serves in the launcher's own
    process, as its stock script does; nothing to bound."""

    effective: int = 1
    requested: int | None = None
    bound_by: str | None = None
    reason: str = "the service has no workers option: it runs as one process"

    def summary(self):
        return "workers=1 (%s)" % self.reason

    def as_dict(self):
        return dataclasses.asdict(self)


ONE_PROCESS = OneProcess()


def round_cpus(cpus, rounding="ceil"):
    """A CPU limit (Fraction) as a whole count, per ``rounding``; may be 0."""
    if rounding == "ceil":
        return math.ceil(cpus)
    if rounding == "floor":
        return math.floor(cpus)
    if rounding == "nearest":
        return math.floor(cpus + fractions.Fraction(1, 2))
    raise ValueError("rounding must be one of %s, not %r" % (", ".join(ROUNDINGS), rounding))


def memory_reserve(resources):
    """Bytes kept out of the workers' budget (see the module docstring)."""
    if resources.memory_limit is not None:
        share = resources.memory_limit // 10
    else:
        share = (resources.memory_total or 0) // 20
    return max(MIN_RESERVE, share)


def for_service(spec, conf, probe):
    """The workers phase: ``spec``'s configured count bounded by what ``probe()``
    finds, under ``conf``'s ``[safe_launch]`` policy; ONE_PROCESS for a service
    without a workers option (nothing is probed)."""
    if not spec.forks:
        return ONE_PROCESS
    group = conf[spec.workers_group] if spec.workers_group else conf
    policy = conf.safe_launch
    return bound(group[spec.workers_name], probe(), policy=policy.worker_bound,
                 per_worker_memory=policy.worker_memory_mb * 2 ** 20,
                 threads_per_worker=policy.worker_threads, rounding=policy.cpu_rounding,
                 max_workers=policy.max_workers,
                 option="[%s] %s" % (spec.workers_group or "DEFAULT", spec.workers_name))


def warnings_of(spec, decision):
    """The ``config.warning`` records' data: one for a clamped request."""
    requested = decision.requested
    if not requested or decision.effective >= requested:
        return []
    summary = "workers: warning: [%s] %s = %d clamped to %d (bound by %s)" % (
        spec.workers_group, spec.workers_name, requested, decision.effective, decision.bound_by)
    return [{"summary": summary, "warning": "clamped %s from %d to %d" % (
        spec.workers_opt, requested, decision.effective)}]


def bound(requested, resources, *, policy="clamp",
          per_worker_memory=WORKER_MEMORY_MB * 2 ** 20, threads_per_worker=32, rounding="ceil",
          max_workers=None, option="workers"):
    """Decide the worker count; see the module docstring for the caps.

    ``requested`` None or 0 means auto: the bound.  Above the bound, ``clamp``
    lowers it, ``refuse`` sets ``refused``, ``off`` keeps it; above the
    process limit every policy refuses.  ``max_workers`` is an absolute cap
    when not None.  ``option`` names the request in the refusal
    (``[scheduler] workers``).
    """
    if policy not in POLICIES:
        raise ValueError("policy must be one of %s, not %r" % (", ".join(POLICIES), policy))
    if requested is not None and requested < 0:
        raise ValueError("requested must be >= 0, not %r" % requested)
    if min(per_worker_memory, threads_per_worker, 1 if max_workers is None else max_workers) < 1:
        raise ValueError("per_worker_memory, threads_per_worker and max_workers must be >= 1")

    raw = {"cpu": round_cpus(resources.cpu_fraction, rounding), "memory": None, "pids": None}
    figures = {"cpu": "%s CPUs (%s)" % (resources.cpu_limit, resources.sources.get("cpu"))}
    if raw["cpu"] != resources.cpu_fraction:
        figures["cpu"] += " -> %d (%s)" % (raw["cpu"], rounding)
    if resources.memory_available is not None:
        reserve = memory_reserve(resources)
        raw["memory"] = max(0, resources.memory_available - reserve) // per_worker_memory
        figures["memory"] = "%s (%d MiB available - %d MiB reserve, %d MiB/worker; %s)" % (
            allows("memory", raw["memory"]), resources.memory_available >> 20, reserve >> 20,
            per_worker_memory >> 20, resources.sources.get("memory"))
    if resources.pids_available is not None:
        raw["pids"] = resources.pids_available // threads_per_worker
        figures["pids"] = "%s (%d slots, %d threads/worker; %s)" % (
            allows("pids", raw["pids"]), resources.pids_available, threads_per_worker,
            resources.sources.get("pids"))
    if max_workers is not None:
        raw["max_workers"] = max_workers
        figures["max_workers"] = "max_workers %d" % max_workers

    reasons = ["degraded: %s" % name for name, cap in raw.items()
               if cap is not None and cap < 1]
    caps = {name: None if cap is None else max(1, cap) for name, cap in raw.items()}
    bound = min(cap for cap in caps.values() if cap is not None)
    limiting = next(name for name in _ORDER if caps.get(name) == bound)

    auto = not requested
    over = auto or requested > bound
    limit = resources.process_limit
    impossible = not auto and limit is not None and requested + 1 > limit   # + the master
    refused = impossible or (policy == "refuse" and not auto and requested > bound)
    if impossible:
        figures["process_limit"] = resources.sources.get("process_limit") or "process limit"
        reasons.append("requested %d, with the master above the process limit %d (%s): "
                       "refused under any policy" % (requested, limit, figures["process_limit"]))
    if auto:
        effective = bound
        reasons.append("auto: %d, bound by %s" % (bound, limiting))
    elif (not over or policy == "off") and not impossible:
        effective = requested
        if over:
            reasons.append("requested %d above the bound %d (%s): kept (off)"
                           % (requested, bound, limiting))
    else:
        effective = bound
        if not impossible:
            reasons.append("requested %d above the bound %d (%s): %s" % (
                requested, bound, limiting, "refused" if refused else "clamped"))
    return WorkerDecision(
        requested=requested, effective=effective, bound=bound,
        bound_by=limiting if effective == bound and over else None, caps=caps,
        figures=figures, policy=policy, refused=refused, reasons=tuple(reasons),
        option=option, process_limit=limit, impossible=impossible)
