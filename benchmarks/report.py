"""The launch benchmark's report: the launch section of benchmarks/RESULTS.md.

``benchmarks.run`` measures and hands :func:`report` its results; this
module only turns them into Markdown and writes its own section of the file
(between two markers), so the scheduling section that
``benchmarks.run --scheduling`` writes (:mod:`benchmarks.schedreport`) is
kept as it is, and the other way round.
"""

import os
import statistics

from safe_launch.spec import NOVA_SCHEDULER

from benchmarks import inproc
from benchmarks import schedreport
from benchmarks import services

BEGIN = "<!-- launch:begin -->"
END = "<!-- launch:end -->"
TITLE = "# nova-scheduler vs nova-scheduler-safe: benchmark results\n"
STOCK, SAFE = "nova-scheduler", "nova-scheduler-safe"
# issue 18
TARGET_IDLE_RATIO = 1.02
TARGET_BUSY_RATIO = 1.03
TARGET_RSS_KIB = 5 * 1024
TARGET_HARDENING_MS = 15.0
TARGET_RABBIT_RATIO = 1.05      # the RabbitMQ series keeps the earlier target
TARGET_HYGIENE_MS = 10.0        # issue 14: the whole hygiene step
TARGET_TYPED_MS = 5.0           # issue 13: the launch-path cost of the typed checks
TARGET_CHECK_SPEEDUP = 3.0      # issue 13: check at least 3x faster than the validator
SCALE_SIZES = (0, 1, 10, 100, 1000, 3000)
BUSY_NOTE = ("Each launch here competes with one CPU-bound process the benchmark starts "
             "before the series and stops after it (`while True: pass`, %.2f CPUs on average "
             "over the series), so one of the CPUs is busy the whole time.\n")


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def quartiles(values):
    values = sorted(v for v in values if v is not None)
    if len(values) < 4:
        return (values[0], values[-1]) if values else (None, None)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def fmt_s(value):
    return "-" if value is None else "%.3f" % value


def by_pair(results):
    pairs = {}
    for r in results:
        pairs.setdefault(r.pair, {})[r.binary] = r
    return [(p, d) for p, d in sorted(pairs.items()) if STOCK in d and SAFE in d]


STALL = 1.5     # s: nova's executor reset took a second full futurist poll


def stalled(r):
    return r.pool_wait is not None and r.pool_wait > STALL


def ratios(results, attr, clean=False, minus_pool=False):
    """Per-pair safe/stock ratios of ``attr``.  ``clean``: only pairs where
    neither launch hit the executor-reset stall; ``minus_pool``: with the
    master's executor-reset wait subtracted from both times."""
    out = []
    for pair, d in by_pair(results):
        a, b = getattr(d[STOCK], attr), getattr(d[SAFE], attr)
        if not (a and b) or d[STOCK].error or d[SAFE].error:
            continue
        if clean and (stalled(d[STOCK]) or stalled(d[SAFE])):
            continue
        if minus_pool:
            if d[STOCK].pool_wait is None or d[SAFE].pool_wait is None:
                continue
            a, b = a - d[STOCK].pool_wait, b - d[SAFE].pool_wait
        out.append(b / a)
    return out


def judged(results, attr):
    """The ratios a target is judged on: the stall-free pairs (at least 3 of
    them), else all pairs.  Returns (ratios, label)."""
    clean = ratios(results, attr, clean=True)
    if len(clean) >= 3:
        return clean, "%d stall-free pairs" % len(clean)
    return ratios(results, attr), "all pairs"


def deltas(results, who, key):
    out = []
    for pair, d in by_pair(results):
        a, b = getattr(d[STOCK], who), getattr(d[SAFE], who)
        if a and b:
            out.append(b[key] - a[key])
    return out


def segments(results):
    """[(label, stock ms, safe ms, median per-pair difference ms)] of the launch's
    segments, from the log-line times: exec -> nova's executor reset -> fork ->
    worker start -> services row."""
    def parts(r):
        if None in (r.t_reset, r.t_fork, r.t_worker, r.t_row):
            return None
        return (r.t_reset, r.t_fork - r.t_reset, r.t_worker - r.t_fork, r.t_row - r.t_worker)
    labels = ("exec to nova's executor reset (the master's imports, checks, parse and "
              "`Service.create`: everything safe_launch adds is here)",
              "the executor reset and fork (\"Selected multiprocessing start method\")",
              "fork to a worker's \"Starting scheduler node\"",
              "that to the services row")
    rows = []
    for i, label in enumerate(labels):
        a = [parts(r)[i] for r in results if r.binary == STOCK and parts(r)]
        b = [parts(r)[i] for r in results if r.binary == SAFE and parts(r)]
        d = [parts(p[SAFE])[i] - parts(p[STOCK])[i] for _, p in by_pair(results)
             if parts(p[SAFE]) and parts(p[STOCK])]
        if not (a and b and d):
            return []
        rows.append((label, 1000 * med(a), 1000 * med(b), 1000 * med(d)))
    return rows


def mib(kib):
    return "-" if kib is None else "%.1f" % (kib / 1024)


def signed_mib(kib):
    return "-" if kib is None else "%+.2f" % (kib / 1024)


def verdict(ok):
    return "**PASS**" if ok else "**MISS**"


def steps_summary(steps):
    """Median over the fresh interpreters of each step, and of their totals (ms)."""
    runs = steps["runs"]
    step = {label: med([r["us"][label] for r in runs]) / 1000 for label, _ in inproc.STEPS}
    parts = {k: med([r["parts_us"][k] for r in runs]) / 1000 for k in inproc.PARTS}
    reference = {k: med([r["reference_us"][k] for r in runs]) / 1000 for k in inproc.REFERENCE}
    totals = [sum(r["us"].values()) / 1000 for r in runs]
    return {"step": step, "parts": parts, "reference": reference, "total": med(totals),
            "totals": totals, "records": med([r["extra"]["records"] for r in runs]),
            "import_paths": runs[-1]["extra"]["import_paths"]}


def report(ctx):
    """The launch section (markers included) and the missed targets."""
    m, out = ctx["machine"], []
    w = out.append

    def cont(text):         # continue the previous paragraph
        out[-1] = out[-1].rstrip("\n") + text
    fake, busy, rabbit = ctx["fake"], ctx.get("busy") or [], ctx.get("rabbit") or []
    st = steps_summary(ctx["steps"])
    row_ratios, row_label = judged(fake, "t_row")
    busy_ratios, busy_label = judged(busy, "t_row")
    rabbit_row, rabbit_row_label = judged(rabbit, "t_row")
    rabbit_ping, rabbit_ping_label = judged(rabbit, "t_ping")
    rss_master = deltas(fake, "master", "rss")
    fake_stock = med([r.t_row for r in fake if r.binary == STOCK])
    busy_stock = med([r.t_row for r in busy if r.binary == STOCK])
    rabbit_stock = med([r.t_row for r in rabbit if r.binary == STOCK])
    ping_stock = med([r.t_ping for r in rabbit if r.binary == STOCK])
    cv = ctx["check"]["tools"]
    speedup = cv["oslo-config-validator"]["median"] / cv["safe-launch check"]["median"]
    # (name, required, value, shown, limit, gap in words); lower is better, so
    # the speed-up is judged negated
    targets = [
        ("time to ready (services row, fake:/, idle machine), median of per-pair safe/stock "
         "ratios, " + row_label, "<= %.2f" % TARGET_IDLE_RATIO, med(row_ratios), "%.3f",
         TARGET_IDLE_RATIO, lambda v: "%.3f over, about %.0f ms of a %.2f s launch"
         % (v - TARGET_IDLE_RATIO, 1000 * (v - TARGET_IDLE_RATIO) * fake_stock, fake_stock)),
    ]
    if busy:
        targets.append(
            ("time to ready (services row, fake:/, one CPU busy), median of per-pair "
             "safe/stock ratios, " + busy_label, "<= %.2f" % TARGET_BUSY_RATIO,
             med(busy_ratios), "%.3f", TARGET_BUSY_RATIO,
             lambda v: "%.3f over, about %.0f ms of a %.2f s launch" % (
                 v - TARGET_BUSY_RATIO, 1000 * (v - TARGET_BUSY_RATIO) * busy_stock,
                 busy_stock)))
    if rabbit:
        targets += [
            ("time to ready (services row, RabbitMQ), median ratio, " + rabbit_row_label,
             "<= %.2f" % TARGET_RABBIT_RATIO, med(rabbit_row), "%.3f", TARGET_RABBIT_RATIO,
             lambda v: "%.3f over, about %.0f ms" % (
                 v - TARGET_RABBIT_RATIO, 1000 * (v - TARGET_RABBIT_RATIO) * rabbit_stock)),
            ("time to first RPC ping answered (RabbitMQ), median ratio, " + rabbit_ping_label,
             "<= %.2f" % TARGET_RABBIT_RATIO, med(rabbit_ping), "%.3f", TARGET_RABBIT_RATIO,
             lambda v: "%.3f over, about %.0f ms" % (
                 v - TARGET_RABBIT_RATIO, 1000 * (v - TARGET_RABBIT_RATIO) * ping_stock)),
        ]
    targets += [
        ("master RSS, median of per-pair safe - stock (fake:/)", "<= +5 MiB",
         med(rss_master), None, TARGET_RSS_KIB,
         lambda v: "%.2f MiB over" % ((v - TARGET_RSS_KIB) / 1024)),
        ("the whole hardening plus safe_launch's import, first call (per-step table)",
         "<= %.0f ms" % TARGET_HARDENING_MS, st["total"], "%.1f ms", TARGET_HARDENING_MS,
         lambda v: "%.1f ms over" % (v - TARGET_HARDENING_MS)),
        ("hygiene step (before the parse + import-path integrity after create), first call",
         "<= %.0f ms" % TARGET_HYGIENE_MS, st["step"]["hygiene"], "%.1f ms", TARGET_HYGIENE_MS,
         lambda v: "%.1f ms over" % (v - TARGET_HYGIENE_MS)),
        ("typed checks of lazily registered options + what the service needs "
         "(`validate.lazy_check`), first call", "<= %.0f ms" % TARGET_TYPED_MS,
         st["parts"]["typed"], "%.1f ms", TARGET_TYPED_MS,
         lambda v: "%.1f ms over" % (v - TARGET_TYPED_MS)),
        ("`safe-launch check` vs `oslo-config-validator`, nova's full sample: how many times "
         "faster (validator / check, medians)", ">= %.0fx" % TARGET_CHECK_SPEEDUP,
         -speedup, "%.1fx", -TARGET_CHECK_SPEEDUP,
         lambda v: "%.1fx short" % (TARGET_CHECK_SPEEDUP + v)),
    ]
    misses = []

    w(BEGIN)
    w("Generated by `%s` on %s (UTC), in %.1f min. Every figure below comes from this one run; "
      "re-run the same command to reproduce it.\n"
      % (ctx["command"], ctx["date"], ctx["duration"] / 60))
    w("## Machine\n")
    w("| | |\n|---|---|")
    w("| CPU | %s, %d CPUs (%d in this process's affinity) |" % (m["cpu"], m["cpus"],
                                                                 m["affinity"]))
    w("| memory | %.1f GiB |" % m["memory_gib"])
    w("| kernel, OS | Linux %s, %s |" % (m["kernel"], m["os"]))
    if m["cgroup_limits"]:
        w("| cgroup limits | %s |" % ", ".join("%s %s" % kv for kv in m["cgroup_limits"].items()))
    w("| Python | %s |" % m["python"])
    w("| versions | %s |" % ", ".join("%s %s" % kv for kv in m["versions"].items()))
    w("| safe_launch commit | %s |" % m["commit"])
    loads = [r.load for r in fake + busy + rabbit if r.load is not None]
    w("| load average (1 min) | %s; at each launch: median %.2f, max %.2f |" % (
        ", ".join("%s %.2f" % kv for kv in ctx["load"]), med(loads) or 0,
        max(loads or [0])))
    w("| CPU used by other processes (and hypervisor steal) | %s |" % "; ".join(
        "%s: %.2f CPUs (steal %.2f), this benchmark %.2f" % (
            name, c["others_cpus"], c["steal_cpus"], c["ours_cpus"]) for name, c in ctx["cpu"]))
    w("")
    busiest = max(c["others_cpus"] + c["steal_cpus"] for _, c in ctx["cpu"])
    if busiest > 0.15:
        w("The machine was shared during the run: other processes used up to %.2f of the %d "
          "CPUs on average over a series, competing with the launches; this widens the spread "
          "of the absolute times. Interleaving the pairs keeps the ratios fair; the medians "
          "of per-pair ratios are robust to a few disturbed launches.\n"
          % (busiest, m["affinity"]))
    else:
        w("The machine was otherwise idle during the run (other processes used at most %.2f "
          "CPUs on average over a series).\n" % busiest)

    w("## Targets\n")
    w("| target | required | measured | result |\n|---|---|---|---|")
    gaps = {}
    for name, required, value, form, limit, gap in targets:
        if value is None:
            w("| %s | %s | not measured | - |" % (name, required))
            continue
        shown = (form % abs(value)) if form else signed_mib(value) + " MiB"
        passed = value <= limit
        if not passed:
            misses.append(name)
            gaps[name] = gap(value)
        w("| %s | %s | %s | %s |" % (name, required, shown, verdict(passed)))
    w("")

    w("## How the launches were run\n")
    w("- One template sandbox prepared once by `safe_launch.sandbox.prepare` (nova-manage: "
      "api_db sync, cell_v2 map_cell0 and create_cell, db sync; sqlite). Each launch gets a "
      "fresh copy of the three databases (cell mappings repointed) and its own nova.conf "
      "(`sandbox.write_conf`, `[scheduler] workers = 2`, `rpc_ping_enabled = true`); "
      "stock and safe get the same configuration.")
    w("- Order: **interleaved**, pair *i* runs stock then safe when *i* is even and safe then "
      "stock when odd (A B, B A, ...), so slow drift of the machine cancels out.")
    w("- Time to ready: `time.monotonic()` immediately before `Popen` (exec) to the first "
      "poll (every %d ms, read-only sqlite) that finds the `nova-scheduler` row in the cell "
      "database's `services` table, which a worker writes in `Service.start()`."
      % (services.POLL * 1000))
    w("- First RPC ping: a persistent pinger process (`benchmarks/pinger.py`, started once, "
      "connected before the first launch) keeps 3 staggered `oslo_rpc_server_ping` calls "
      "(0.5 s timeout) in flight on topic `scheduler` and prints `time.monotonic()` when a "
      "reply arrives; CLOCK_MONOTONIC is system-wide, so the pinger's and this script's "
      "times compare directly. The time is from exec to the first reply after exec.")
    w("- Memory: RSS and PSS from `/proc/PID/smaps_rollup` of the master and of its first "
      "worker, sampled once, 2 s after the services row appeared.")
    w("- Stop: SIGTERM, then SIGKILL to the process group and to every pid seen (cotyledon "
      "forks from a thread and its master calls `setsid()`).")
    w("- Before the measured pairs of each series, one unmeasured launch of each binary "
      "(fills the private bytecode cache and the page cache, creates the RabbitMQ queues): "
      "the first launch after preparing the sandbox would otherwise compile every module.")
    w("- One CPU busy: a `while True: pass` process started before that series' warm-up "
      "and stopped (by pid) after its last pair; the same for stock and safe.")
    w("- Bytecode: both binaries read every module from bytecode. nova-scheduler-safe's "
      "isolated interpreter (`python -I`) ignores `PYTHON*` variables and reads each "
      "module's own `__pycache__` (safe_launch's written by its warm-up launch); stock runs "
      "with `PYTHONPYCACHEPREFIX` set to a private cache its warm-up fills.\n")

    for title, results, with_ping in (("fake:/ transport", fake, False),
                                      ("fake:/ transport, one CPU busy", busy, False),
                                      ("private RabbitMQ", rabbit, True)):
        if not results:
            continue
        w("## Time to ready, %s\n" % title)
        if results is busy:
            w(BUSY_NOTE % ctx["busy_cpu"])
        head = ("| pair | order | stock row (s) | safe row (s) | ratio | executor reset, "
                "stock / safe (s) |")
        line = "|---|---|---|---|---|---|"
        if with_ping:
            head += " stock ping (s) | safe ping (s) | ratio |"
            line += "---|---|---|"
        w(head)
        w(line)
        for pair, d in by_pair(results):
            a, b = d[STOCK], d[SAFE]
            order = "stock, safe" if a.position == 0 else "safe, stock"
            cells = [str(pair + 1), order, fmt_s(a.t_row), fmt_s(b.t_row),
                     "%.3f" % (b.t_row / a.t_row) if a.t_row and b.t_row else "-",
                     "%s%s / %s%s" % (fmt_s(a.pool_wait), " (stall)" if stalled(a) else "",
                                      fmt_s(b.pool_wait), " (stall)" if stalled(b) else "")]
            if with_ping:
                cells += [fmt_s(a.t_ping), fmt_s(b.t_ping),
                          "%.3f" % (b.t_ping / a.t_ping) if a.t_ping and b.t_ping else "-"]
            w("| " + " | ".join(cells) + " |")
        srow = [r.t_row for r in results if r.binary == STOCK]
        brow = [r.t_row for r in results if r.binary == SAFE]
        rr = ratios(results, "t_row")
        cells = ["**median**", "", fmt_s(med(srow)), fmt_s(med(brow)), "**%.3f**" % med(rr),
                 "%s / %s" % (fmt_s(med([r.pool_wait for r in results if r.binary == STOCK])),
                              fmt_s(med([r.pool_wait for r in results if r.binary == SAFE])))]
        if with_ping:
            pr = ratios(results, "t_ping")
            cells += [fmt_s(med([r.t_ping for r in results if r.binary == STOCK])),
                      fmt_s(med([r.t_ping for r in results if r.binary == SAFE])),
                      "**%.3f**" % med(pr) if pr else "-"]
        w("| " + " | ".join(cells) + " |")
        lo, hi = quartiles(rr)
        w("\nServices row: safe slower in %d of %d pairs; ratio interquartile range %.3f to "
          "%.3f, min %.3f, max %.3f; median difference %+.0f ms (stock spread: IQR %.0f ms)."
          % (sum(1 for x in rr if x > 1), len(rr), lo, hi, min(rr), max(rr),
             1000 * med([d[SAFE].t_row - d[STOCK].t_row for _, d in by_pair(results)]),
             1000 * (quartiles(srow)[1] - quartiles(srow)[0])))
        if with_ping:
            cont(" First ping: median %.0f ms after the services row (stock), %.0f ms (safe)."
                 % tuple(1000 * med([r.t_ping - r.t_row for r in results
                                     if r.binary == b and r.t_ping]) for b in (STOCK, SAFE)))
        n_stock = sum(1 for r in results if r.binary == STOCK)
        n_safe = sum(1 for r in results if r.binary == SAFE)
        clean = ratios(results, "t_row", clean=True)
        w("\nnova's executor reset: before forking, the master runs nova's "
          "`reset_all_executors()`, which joins each thread pool; futurist's idle workers "
          "poll every second, so it waits up to 1 s per pool depending on thread timing. It "
          "usually waits one poll (~1 s); a launch marked *stall* waited a second full poll "
          "(more than %.1f s in total): stock %d of %d launches, safe %d of %d. That +1 s "
          "comes from nova, not from either launcher, and is half a launch: the targets are "
          "judged on the pairs where neither launch stalled (median ratio %s over %d pairs; "
          "all pairs %.3f). With the executor-reset wait subtracted from both times, the "
          "median per-pair ratio is %s." % (
              STALL, sum(1 for r in results if r.binary == STOCK and stalled(r)), n_stock,
              sum(1 for r in results if r.binary == SAFE and stalled(r)), n_safe,
              "%.3f" % med(clean) if clean else "-", len(clean), med(rr),
              "%.3f" % med(ratios(results, "t_row", minus_pool=True))
              if ratios(results, "t_row", minus_pool=True) else "-"))
        if with_ping:
            pclean = ratios(results, "t_ping", clean=True)
            cont(" First ping, stall-free pairs: %s." % ("%.3f" % med(pclean) if pclean else "-"))
        seg = segments(results)
        if seg:
            w("\nWhere the time goes (nova's own log lines, millisecond stamps): "
              + "; ".join("%s: stock %.0f ms, safe %.0f ms, median per-pair difference "
                          "%+.0f ms" % row for row in seg)
              + ". After the fork safe_launch only adds, in a worker, one readiness line on "
              "a pipe and the audit file's re-open.")
        failed = [r for r in results if r.error]
        if failed:
            w("\nFailed launches (kept out of the ratios): " + "; ".join(
                "pair %d %s: %s" % (r.pair + 1, r.binary, r.error) for r in failed))
        stops = {b: med([r.stop_s for r in results if r.binary == b]) for b in (STOCK, SAFE)}
        w("\nGraceful stop after SIGTERM: median %.2f s stock, %.2f s safe; exit statuses: "
          "stock %s, safe %s." % (
              stops[STOCK] or 0, stops[SAFE] or 0,
              sorted({r.exit_status for r in results if r.binary == STOCK}, key=str),
              sorted({r.exit_status for r in results if r.binary == SAFE}, key=str)))
        safe_runs = [r for r in results if r.binary == SAFE]
        cont(" Every safe launch printed its `ready:` line: %s. Workers forked: stock %s, "
             "safe %s.\n" % ("yes" if all(r.ready_line for r in safe_runs) else "NO",
                             sorted({r.workers for r in results if r.binary == STOCK}, key=str),
                             sorted({r.workers for r in results if r.binary == SAFE}, key=str)))

    for title, results in (("fake:/ transport", fake), ("private RabbitMQ", rabbit)):
        if not results:
            continue
        w("## Memory, %s (MiB, 2 s after the services row)\n" % title)
        w("| process | figure | stock median | safe median | median of per-pair safe - stock "
          "| per-pair deltas |\n|---|---|---|---|---|---|")
        for who in ("master", "worker"):
            for key in ("rss", "pss"):
                a = med([getattr(r, who)[key] for r in results
                         if r.binary == STOCK and getattr(r, who)])
                b = med([getattr(r, who)[key] for r in results
                         if r.binary == SAFE and getattr(r, who)])
                dl = deltas(results, who, key)
                w("| %s | %s | %s | %s | %s | %s |" % (
                    who, key.upper(), mib(a), mib(b), signed_mib(med(dl)),
                    " ".join(signed_mib(x) for x in dl)))
        w("")
    w("RSS is what the target is judged on. PSS splits each shared page among every process "
      "mapping it (master, workers, and any other nova process on the machine at that "
      "moment), so its per-pair deltas move with whatever else runs.\n")

    cv = ctx["check"]
    chk, val = cv["tools"]["safe-launch check"], cv["tools"]["oslo-config-validator"]
    w("## `safe-launch check` vs `oslo-config-validator` on nova's full sample config\n")
    w("The file: `oslo-config-generator` over `safe_launch.NOVA_SCHEDULER.namespaces` (%s), "
      "every option uncommented at its default except `<...>` placeholders: %d lines, %d "
      "keys set. Both tools get the same file and the same namespaces; wall time of the "
      "whole command (interpreter start included), one unmeasured run each first, then "
      "%d interleaved runs each.\n"
      % (", ".join(NOVA_SCHEDULER.namespaces), cv["conf_lines"], cv["keys"], len(chk["times"])))
    w("| command | median (s) | runs (s) | exit | errors | warnings |\n|---|---|---|---|---|---|")
    for name, t in (("safe-launch check", chk), ("oslo-config-validator", val)):
        w("| `%s` | %.3f | %s | %s | %s | %s |" % (
            "safe-launch check --config-file nova-full.conf" if name == "safe-launch check"
            else "oslo-config-validator --input-file nova-full.conf --namespace ... (x%d)"
            % len(NOVA_SCHEDULER.namespaces),
            t["median"], " ".join("%.3f" % x for x in t["times"]), t["exit"], t["errors"],
            t["warnings"]))
    w("\nRatio check / validator: %.2f (check %.1fx faster). safe-launch's warnings are "
      "the deprecated-for-removal options the sample sets (the validator skips those). "
      "Note: the validator's own `--config-file` is for the validator's options; the file "
      "to validate is `--input-file`.\n"
      % (chk["median"] / val["median"], val["median"] / chk["median"]))
    w("What `safe-launch check` checks beyond oslo-config-validator (which only compares "
      "section/key names with the namespaces' options): the argv guard (exact option names, "
      "no abbreviations, repeats, positionals or control characters, values typed); the "
      "file policy (regular file, no FIFO or device, size, UTF-8 text, owner and mode, "
      "symlinks and writable parent directories; also the files options make the service "
      "load: log_config_append, policy file, TLS keys); every value eagerly (type, range, "
      "choices, `$substitution`), including values from `OS_<GROUP>__<OPT>` variables "
      "(recorded by name) and unknown `OS_*` variables; `config_source` refused before the "
      "parse; deprecated names and deprecated-for-removal options warned; keystoneauth "
      "plugin options in every auth group; unknown keys and sections; the worker bound "
      "(CPUs, cgroup quotas, memory, pids); and the concurrency-backend / monkey-patching "
      "decision. See benchmarks/README.md.\n")

    w("## The launch path, step by step (ms, first call)\n")
    w("Each figure is what one launch pays: `benchmarks/inproc.py` runs the launcher's own "
      "phases (`Launch.phase_guard` ... `phase_create`) once, in a fresh interpreter (its "
      "bytecode cached, like an installed package's), on a sandbox nova.conf (fake:/), "
      "with the hygiene applied to that process for real; each function is timed "
      "exclusive of the others timed inside it, so nothing counts twice, and every lazy "
      "import, cache fill, console line and audit record (write + fdatasync) is in the "
      "step that causes it. Importing a module stock's nova-scheduler imports too (its "
      "`main()` run up to `service.serve` in another interpreter lists them, %d modules) "
      "is not counted where safe_launch happens to import it first: stock pays it anyway. "
      "Median of %d interpreters; the total is the median of the per-interpreter totals "
      "(%s).\n" % (ctx["steps"]["stock_modules"], len(st["totals"]),
                   " ".join("%.1f" % x for x in st["totals"])))
    w("| step | what | first call (ms) |\n|---|---|---|")
    for label, what in inproc.STEPS:
        w("| %s | %s | %.2f |" % (label, what, st["step"][label]))
        if label == "validate":
            w("| - of which typed checks | `validate.lazy_check`: the typed checks of the "
              "options libraries register lazily, and what the service cannot start without "
              "(issue 13) | %.2f |" % st["parts"]["typed"])
        if label == "hygiene":
            ip = st["import_paths"] or {}
            w("| - of which import paths | every loaded module's file, directory and "
              "bytecode directory after create (%s modules, %s paths, each stat'ed once) "
              "| %.2f |" % (ip.get("modules", "-"), ip.get("paths", "-"),
                            st["parts"]["import_paths"]))
    w("| **total** | the whole hardening, safe_launch's import included | **%.1f** |"
      % st["total"])
    w("\nNot hardening, for reference (stock pays each too): " + "; ".join(
        "%s %.1f ms" % (inproc.REFERENCE[k], v) for k, v in st["reference"].items())
      + ". Audit records written up to the service's creation: %d.\n" % st["records"])

    out.extend(before_after(ctx.get("before"), st, fake, rss_master))

    it = ctx["importtime"]
    w("## Import cost by module (`python -X importtime`, ms)\n")
    w("`python -X importtime -c 'import M'` in a fresh interpreter for safe_launch and each "
      "phase module, median of %d runs: *own* is the self time of safe_launch's modules "
      "that import loads, *not in stock* that of the other modules it loads which stock's "
      "nova-scheduler never imports (what the import adds to a launch beyond safe_launch "
      "itself), *cumulative* the whole import with every dependency (most of which nova "
      "imports anyway).\n" % it["runs"])
    w("| module | own (ms) | not in stock (ms) | cumulative (ms) | modules not in stock |\n"
      "|---|---|---|---|---|")
    for name, row in it["modules"].items():
        w("| `%s` | %.2f | %.2f | %.1f | %s |" % (
            name, row["own_us"] / 1000, row["foreign_us"] / 1000, row["cumulative_us"] / 1000,
            ", ".join(row["foreign"][:6]) + (" ..." if len(row["foreign"]) > 6 else "")
            or "-"))
    w("")

    bc = ctx["bytecode"]
    w("## Bytecode\n")
    w("Importing safe_launch's launch-path modules (after the modules stock imports too): "
      "%.1f ms "
      "from bytecode, %.1f ms when compiled from source, so a launch without bytecode for "
      "safe_launch pays about %.0f ms more than an installed one (pip and distribution "
      "packages ship bytecode). The launches above read warm bytecode (see how they were "
      "run).\n"
      % (bc["cached"] or 0, bc["compiled"] or 0, (bc["compiled"] or 0) - (bc["cached"] or 0)))

    sc = ctx["scaling"]
    w("## Scaling: `safe-launch check --config-dir` with 0 to 3000 files\n")
    w("Each file: `[DEFAULT] report_interval` and `[scheduler] max_attempts` (~80 bytes); "
      "the two database connections come from `OS_DATABASE__CONNECTION` and "
      "`OS_API_DATABASE__CONNECTION`. "
      "Whole-command wall time, %d runs per size, round robin.\n" % len(sc["times"][0]))
    w("| files | median (s) | runs (s) | exit |\n|---|---|---|---|")
    for n in SCALE_SIZES:
        w("| %d | %.3f | %s | %s |" % (n, sc["medians"][n], " ".join(
            "%.3f" % t for t in sc["times"][n]), sc["exits"].get(n)))
    w("\nPer-file cost between sizes (ms/file): " + ", ".join(
        "%s files: %.2f" % (k, v * 1000) for k, v in sc["slopes"].items()) + ".")
    cont(" Least-squares fit over all runs: t = %.3f s + %.3f ms x files." % (
        sc["fit"]["a"], sc["fit"]["b"] * 1000))
    if sc["exponent"] is not None:
        cont(" Growth exponent of the per-file part (t(n) - t(1) ~ n^k, 100 to 3000 files): "
             "k = %.2f." % sc["exponent"])
    cont(" Marginal cost per file from 1000 to 3000 files / from 100 to 1000: %s "
         "(linear: 1; quadratic: about 3.6). Growth is **%s**.\n" % (
             "%.2f" % sc["growth"] if sc["growth"] is not None else "-",
             "at most linear" if sc["linear"] else "faster than linear"))

    w("## Misses\n")
    if not misses:
        w("None: every target is met.\n")
    else:
        for name in misses:
            w("- **%s**: remaining gap %s." % (name, gaps[name]))
        seg = segments(fake)
        gap = med([d[SAFE].t_row - d[STOCK].t_row for _, d in by_pair(fake)])
        w("\nThe fake:/ services-row difference (median of pairs %+.0f ms): the hardening "
          "and import %.1f ms (per-step table)%s; the rest is safe_launch's other launch "
          "work (sd_notify and signal set-up, the worker monitor) and noise (spread above).\n"
          % (1000 * (gap or 0), st["total"],
             "; master before nova's executor reset %+.0f ms, the reset and fork %+.0f ms, "
             "after the fork %+.0f ms" % (seg[0][3], seg[1][3], seg[2][3] + seg[3][3])
             if seg else ""))
    w(END)
    return "\n".join(out) + "\n", misses


def segment_deltas(results):
    """Per pair, safe - stock (ms) of each segment :func:`segments` reports."""
    def parts(r):
        if None in (r.t_reset, r.t_fork, r.t_worker, r.t_row):
            return None
        return (r.t_reset, r.t_fork - r.t_reset, r.t_worker - r.t_fork, r.t_row - r.t_worker)
    out = ([], [], [], [])
    for _, d in by_pair(results):
        a, b = parts(d[STOCK]), parts(d[SAFE])
        if a and b:
            for i in range(4):
                out[i].append(1000 * (b[i] - a[i]))
    return out


def before_after(before, st, fake, rss_master):
    """Lines of the section that sets this run's figures beside those of the commit
    just before the structure work (benchmarks/results/before-structure.json).

    A figure is unchanged when it moved by less than half the interquartile
    range of this run's own per-pair values (per interpreter, for the
    hardening total): what the same launch varies by from pair to pair.
    """
    if not before:
        return []
    reset, fork, start, row = segment_deltas(fake)
    rows = [("time to ready (services row, fake:/, idle), median per-pair safe/stock",
             "time_to_ready_ratio", "%.3f", judged(fake, "t_row")[0]),
            ("master from exec to nova's executor reset, median per-pair safe - stock (ms)",
             "master_before_reset_ms", "%+.0f", reset),
            ("the executor reset and fork, median per-pair safe - stock (ms)",
             "reset_and_fork_ms", "%+.0f", fork),
            ("the fork to a worker's \"Starting scheduler node\", median per-pair safe - "
             "stock (ms)", "fork_to_worker_start_ms", "%+.0f", start),
            ("that to the services row, median per-pair safe - stock (ms)",
             "worker_start_to_row_ms", "%+.0f", row),
            ("master RSS, median per-pair safe - stock (MiB)", "rss_master_mib", "%+.2f",
             [v / 1024 for v in rss_master]),
            ("the whole in-process hardening, first call (ms; each benchmark's own harness, "
             "see below)", "hardening_ms", "%.1f", st["totals"])]
    out = ["## Before and after the structure work (issue 17)\n",
           "The same figures from the commit just before the structure work, %s, measured "
           "with that commit's own benchmark on this machine (%s, `%s`; "
           "`benchmarks/results/before-structure.json`). The launch pairs, the log-line "
           "segments and the memory samples are measured the same way in both benchmarks; "
           "lower is better in every row. A figure that moved by less than half the "
           "interquartile range of this run's own per-pair values (per interpreter for the "
           "hardening) is *unchanged*: the same launch varies that much from pair to "
           "pair.\n" % (before["commit"], before["date"], before["command"]),
           "| figure | before (%s) | now | now, IQR | |\n|---|---|---|---|---|"
           % before["commit"]]
    for label, key, form, values in rows:
        was, now = before.get(key), med(values)
        if was is None or now is None:
            continue
        low, high = quartiles(values)
        change = ("unchanged" if abs(now - was) < (high - low) / 2 else
                  "better" if now < was else "**worse**")
        out.append("| %s | %s | %s | %s to %s | %s |" % (
            label, form % was, form % now, form % low, form % high, change))
    out.append("\nThe hardening row is each benchmark's own: before, %s; now, the per-step "
               "table above (safe_launch's import included). Between the two commits came "
               "the structure work and the launch-cost work of issue 18 (validate reads only "
               "given values, the import-path check in a thread, the collector paused while "
               "the master starts, shared record methods), so the rows show the launch path "
               "as a whole, not the structure work alone. Memory is not a phase cost; its row "
               "is there to show it too, judged by its own target (+5 MiB).\n"
               % before["hardening_how"])
    return out


def write(path, section):
    """Put the launch ``section`` into the file at ``path``, keeping every other
    part of it (the scheduling section above all).  A file from before the
    markers: its scheduling section is kept, the rest was this report's."""
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    if BEGIN in old and END in old:
        head, _, rest = old.partition(BEGIN)
        text = head + section.rstrip("\n") + rest.partition(END)[2]
    else:
        text = schedreport.keep_section(path, TITLE + "\n" + section) if old else \
            TITLE + "\n" + section
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
