"""What this process may use: CPUs, memory and process slots.

:mod:`safe_launch.kernelread` reads the figures under a root (the real one
or a fake tree, by the same code); :func:`combine` is the pure rule that
turns them into the binding limits, as uber-go/automaxprocs keeps its
cgroup reading apart from the quota rule.  Stdlib only: this is on the
launch path.
"""

import fractions

from safe_launch import kernelread
from safe_launch import recordtype


class Resources(recordtype.Frozen):
    """What the process may use; ``None`` means no limit was found.

    ``cpu_limit`` = min(``cpus_allowed``, ``cpu_quota``); ``memory_limit`` is
    the tightest cgroup limit on the chain and ``memory_total`` the host's
    MemTotal (both for sizing a reserve).  ``sources`` says per figure
    (``cpu``, ``memory``, ``pids``, ``process_limit``) what bound it.
    """

    cpu_limit: float
    cpus_allowed: int
    cpu_quota: fractions.Fraction | None
    memory_available: int | None
    memory_limit: int | None
    memory_total: int | None
    pids_available: int | None
    cgroups: dict
    sources: dict
    warnings: tuple
    # The most processes (threads) that can exist at all: kernel.pid_max and
    # every pids.max on the chain, whatever is in use; None if none is known.
    process_limit: int | None = None

    @property
    def cpu_fraction(self):
        """``cpu_limit`` exactly, for rounding without float error."""
        cpus = fractions.Fraction(self.cpus_allowed)
        return cpus if self.cpu_quota is None else min(cpus, self.cpu_quota)


def combine(figures):
    """The :class:`Resources` that ``figures`` (kernelread.Figures) allow: pure.

    CPU: the affinity (or PYTHON_CPU_COUNT), then the tightest quota on the
    chain unless a real-time policy makes it moot.  Memory: the least of the
    headroom on the chain, the host's available memory and, under
    vm.overcommit_memory=2, the commit limit.  Process slots: pids.max -
    pids.current on the chain and RLIMIT_NPROC; the process limit:
    kernel.pid_max and every pids.max.
    """
    cpus, sources = figures.cpus, {"cpu": figures.cpu_source}
    quota = None
    found = figures.cpu_quota
    if found and figures.realtime:
        sources["cpu"] += "; %s ignored (real-time scheduling policy)" % found[1]
    elif found:
        quota = found[0]
        if quota < cpus:
            sources["cpu"] = found[1]

    meminfo, chain = figures.meminfo, figures.memory_chain
    candidates = [(h, s) for h, _, s in chain]
    host = kernelread.host_available(meminfo)
    if host:
        candidates.append(host)
    if figures.overcommit_strict and "CommitLimit" in meminfo and "Committed_AS" in meminfo:
        candidates.append((max(0, meminfo["CommitLimit"] - meminfo["Committed_AS"]),
                           "CommitLimit - Committed_AS (vm.overcommit_memory=2)"))
    memory = min(candidates, key=lambda c: c[0]) if candidates else (None, "nothing known")
    sources["memory"] = memory[1]

    slots = [(headroom, source) for headroom, source, _ in figures.pids_levels]
    if figures.nproc:
        slots.append(figures.nproc)
    pids = min(slots, key=lambda c: c[0]) if slots else (None, "no limit found")
    sources["pids"] = pids[1]
    ceilings = [ceiling for _, _, ceiling in figures.pids_levels]
    if figures.pid_max is not None:
        ceilings.append((figures.pid_max, "kernel.pid_max %d" % figures.pid_max))
    ceiling = min(ceilings, key=lambda c: c[0]) if ceilings else (None, "no limit found")
    sources["process_limit"] = ceiling[1]

    cpu = fractions.Fraction(cpus) if quota is None else min(fractions.Fraction(cpus), quota)
    return Resources(
        cpu_limit=float(cpu), cpus_allowed=cpus, cpu_quota=quota,
        memory_available=memory[0], memory_limit=min((lim for _, lim, _ in chain), default=None),
        memory_total=meminfo.get("MemTotal"), pids_available=pids[0],
        cgroups=figures.cgroups, sources=sources, warnings=figures.warnings,
        process_limit=ceiling[0])


def probe(root="/", pid=None, affinity=None, sched_policy=None, env=None):
    """What this process may use, read under ``root`` (see kernelread.read)."""
    return combine(kernelread.read(root, pid, affinity, sched_policy, env))
