"""The scheduling benchmark's figures: benchmarks/results/scheduling.json and the
scheduling section of benchmarks/RESULTS.md (between two markers, so the main
benchmark's report and this one each rewrite only their own part).
"""

import math
import os

BEGIN = "<!-- scheduling:begin -->"
END = "<!-- scheduling:end -->"
TARGET_RATIO = 0.99


def percentile(values, q):
    """Nearest-rank percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    return values[max(0, math.ceil(q / 100 * len(values)) - 1)]


def aggregate(runs):
    """One point per (binary, workers, clients, cgroup): the rounds pooled."""
    groups = {}
    for run in runs:
        groups.setdefault((run["binary"], run["workers"], run["clients"], run["cgroup"]),
                          []).append(run)
    points = []
    for (binary, workers, clients, cgroup), rounds in groups.items():
        latencies = sorted(x for r in rounds for x in r["latencies_ms"])
        seconds = sum(r["seconds"] for r in rounds)
        kinds = {}
        for r in rounds:
            for kind, n in r["error_kinds"].items():
                kinds[kind] = kinds.get(kind, 0) + n
        points.append({
            "binary": binary,
            "workers": workers if workers is not None else max(r["forked"] for r in rounds),
            "workers_requested": workers if workers is not None else "auto",
            "clients": clients, "cgroup": cgroup,
            "calls_per_s": round(sum(r["calls"] for r in rounds) / seconds, 2),
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "errors": sum(r["errors"] for r in rounds),
            "oom_kills": sum(r.get("oom_kills", 0) for r in rounds),
            "rounds": len(rounds),
            "calls_per_s_by_round": [round(r["calls"] / r["seconds"], 2) for r in rounds],
            "workers_forked_by_round": [r["forked"] for r in rounds],
            "worker_pids_seen_by_round": [r["worker_pids_seen"] for r in rounds],
            "master_exited_by_round": [r["master_exited"] for r in rounds],
            "error_kinds": kinds,
            "memory_failcnt": sum(r.get("failcnt", 0) for r in rounds),
            "max_usage_mib": max((r.get("max_usage_mib", 0) for r in rounds), default=0),
            "cpu_throttled": sum(r.get("throttled", 0) for r in rounds),
            "decision": next((r["decision"] for r in rounds if r.get("decision")), None),
        })
    points.sort(key=lambda p: (["none", "cpu1", "mem"].index(p["cgroup"]),
                               str(p["workers_requested"]), p["clients"],
                               p["binary"] != "stock"))
    return points


def document(ctx, runs):
    machine = dict(ctx["machine"])
    return {
        "commit": machine.pop("commit"),
        "machine": machine,
        "command": ctx["command"], "date": ctx["date"],
        "duration_s": round(ctx["duration_s"]),
        "setup": {"hosts": ctx["hosts"], "hosts_check": ctx["hosts_check"],
                  "rounds": ctx["rounds"], "warmup_s": ctx["warmup_s"],
                  "seconds_per_point_and_round": ctx["seconds"],
                  "mem_limit_mib": ctx["mem_limit_mib"], "placement": ctx["placement"],
                  "load_average_by_launch": [round(x, 2) for x in ctx["load"]]},
        "points": aggregate(runs),
    }


def pairs(doc):
    """(stock, safe) point pairs with the same workers request, clients and cgroup."""
    index = {(p["binary"], p["workers_requested"], p["clients"], p["cgroup"]): p
             for p in doc["points"]}
    for (binary, workers, clients, cgroup), stock in index.items():
        safe = index.get(("safe", workers, clients, cgroup))
        if binary == "stock" and safe is not None:
            yield stock, safe


def ratio(stock, safe):
    """safe/stock throughput: 0 when safe answered nothing, infinite when only stock did not."""
    if not safe["calls_per_s"]:
        return 0.0
    if not stock["calls_per_s"]:
        return math.inf
    return safe["calls_per_s"] / stock["calls_per_s"]


def judge(doc):
    """The issue's targets: [(text, ok)]."""
    out = []
    for stock, safe in pairs(doc):
        where = "workers=%s clients=%d cgroup=%s" % (
            stock["workers_requested"], stock["clients"], stock["cgroup"])
        r = ratio(stock, safe)
        if stock["cgroup"] == "none":
            out.append(("safe/stock throughput >= %.2f (%s): %.3f" % (TARGET_RATIO, where, r),
                        r >= TARGET_RATIO))
        else:
            out.append(("safe at least as good as stock (%s): throughput %.3f, errors %d vs "
                        "%d, OOM kills %d vs %d" % (
                            where, r, safe["errors"], stock["errors"], safe["oom_kills"],
                            stock["oom_kills"]),
                        r >= 1.0 and safe["errors"] <= stock["errors"]
                        and safe["oom_kills"] <= stock["oom_kills"]))
    errors = sum(p["errors"] for p in doc["points"] if p["binary"] == "safe")
    out.append(("0 errors for safe everywhere: %d" % errors, errors == 0))
    return out


def fmt(value, digits=1):
    return "-" if value is None else "%.*f" % (digits, value)


def section(doc):
    setup = doc["setup"]
    lines = [BEGIN, "## Scheduling: select_destinations under load (issue 16)", ""]
    w = lines.append
    w("Generated by `%s` (%s UTC, %d s, commit %s) from "
      "`benchmarks/results/scheduling.json`; see `benchmarks/scheduling.py`."
      % (doc["command"], doc["date"], doc["duration_s"], doc["commit"]))
    w("")
    w("Setup: placement %s under gunicorn %s (2 processes x 4 threads) on MariaDB "
      "(system, 127.0.0.1), a private RabbitMQ, %d compute hosts (placement resource "
      "providers with inventories, and nova-compute services and compute nodes made with "
      "nova's objects in the cell database, kept up by a heartbeat). Each point is %d "
      "rounds of %d s, pooled, each opening %d s after every client had a call "
      "answered; stock and safe alternate launch by launch (ABAB, then BABA). "
      "Placement's allocations are cleared before each launch."
      % (setup["placement"].get("openstack-placement"), setup["placement"].get("gunicorn"),
         setup["hosts"], setup["rounds"], setup["seconds_per_point_and_round"],
         setup["warmup_s"]))
    w("")
    w("Hosts the scheduler filters over: %s (`Filter ComputeFilter returned N host(s)` in "
      "the log of a debug launch of nova-scheduler-safe answering one call)."
      % setup["hosts_check"]["compute_filter_hosts"])
    w("")
    w("| cgroup | workers (requested -> forked) | clients | binary | calls/s | per round "
      "| p50 ms | p99 ms | errors | OOM kills | worker pids seen | safe/stock |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for stock, safe in pairs(doc):
        for p in (stock, safe):
            w("| %s | %s -> %s | %d | %s | %.2f | %s | %s | %s | %d | %d | %s | %s |" % (
                p["cgroup"], p["workers_requested"], p["workers"], p["clients"], p["binary"],
                p["calls_per_s"], " ".join("%.1f" % x for x in p["calls_per_s_by_round"]),
                fmt(p["p50_ms"]), fmt(p["p99_ms"]), p["errors"], p["oom_kills"],
                " ".join(str(x) for x in p["worker_pids_seen_by_round"]),
                "%.3f" % ratio(stock, safe) if p is safe else ""))
    w("")
    w("What each figure is:")
    w("")
    w("- **calls/s**: answered `select_destinations` calls (nova's `SchedulerAPI`, one new "
      "instance per call, so the scheduler also claims its allocation in placement) ending "
      "in the measured window, over the window, rounds pooled; **per round** the same per "
      "launch. Client threads call back to back, so this is the service's capacity at that "
      "concurrency.")
    w("- **p50/p99 ms**: nearest-rank percentiles of the answered calls' latencies, from "
      "the client's call to its reply, rounds pooled.")
    w("- **errors**: calls that raised (NoValidHost, a timeout: 180 s, or 60 s without the "
      "heartbeat of a worker processing the call, ...), counted over the whole load "
      "including the warm-up: a failed call is never outside the count.")
    w("- **OOM kills**: `oom_kill` of each launch's memory cgroup `memory.oom_control` "
      "(every launch has one, limited only in `mem`), summed over the rounds; a launch "
      "serves both client counts, so both rows of a launch show its kills; **master "
      "exited** (below): the master's status when the load ended (-9: OOM-killed, None: "
      "alive); **worker pids seen**: distinct worker "
      "processes seen under the master during each launch (more than the worker count means "
      "workers were re-forked).")
    w("- **workers**: requested in nova.conf (`auto`: `[scheduler] workers` unset, so each "
      "binary picks) and forked (most workers alive at once).")
    w("- **cpu1**: the scheduler (master and workers) in a cgroup v1 with "
      "`cpu.cfs_quota_us = cpu.cfs_period_us = 100000` (1 CPU) on this %d-CPU host; "
      "placement, MariaDB, RabbitMQ and the clients outside it." % doc["machine"]["cpus"])
    w("- **mem**: the scheduler in a cgroup v1 with `memory.limit_in_bytes` = %d MiB, "
      "below what stock's master and 2 workers use under this load and above master and 1 "
      "worker (no swap)." % setup["mem_limit_mib"])
    w("")
    decisions = {p["cgroup"]: p["decision"] for p in doc["points"]
                 if p["binary"] == "safe" and p["cgroup"] != "none"}
    for cgroup, text in sorted(decisions.items()):
        w("- safe's decision in `%s`: `%s`" % (cgroup, text))
    w("")
    for p in doc["points"]:
        if p["cgroup"] == "mem":
            w("- `mem`, %s, %d clients: memory.failcnt %d, max usage %.0f MiB, master exited "
              "%s, errors %s." % (p["binary"], p["clients"], p["memory_failcnt"],
                                  p["max_usage_mib"], p["master_exited_by_round"],
                                  p["error_kinds"] or 0))
    w("")
    w("Targets:")
    w("")
    for text, ok in judge(doc):
        w("- %s: **%s**" % (text, "PASS" if ok else "MISS"))
    w("")
    w("Load average (1 min) before the run and after each launch: %s. The machine is "
      "shared, so absolute rates move with the other load; the interleaving puts the same "
      "load on both binaries." % " ".join("%.1f" % x for x in setup["load_average_by_launch"]))
    w(END)
    return "\n".join(lines) + "\n"


def splice(text, new):
    """``text`` with its scheduling section replaced by ``new`` (appended if absent)."""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + new.rstrip("\n") + tail
    return text.rstrip("\n") + "\n\n" + new


def keep_section(path, text):
    """The main report ``text`` with the scheduling section of the file at ``path`` kept."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return text
    if BEGIN not in old or END not in old:
        return text
    kept = BEGIN + old.partition(BEGIN)[2].partition(END)[0] + END + "\n"
    return splice(text, kept)


def write_section(path, doc):
    """Write the section into RESULTS.md; return the missed targets."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmark results\n"
    with open(path + ".tmp", "w") as f:
        f.write(splice(text, section(doc)))
    os.replace(path + ".tmp", path)
    return [text for text, ok in judge(doc) if not ok]
