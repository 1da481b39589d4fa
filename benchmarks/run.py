"""Stock nova-scheduler against nova-scheduler-safe, on one machine, in one run.

    /work/venv/bin/python -m benchmarks.run [--pairs N] [--quick] [--output PATH]

Run from the repository root with the interpreter of the venv that has nova 34
and safe_launch installed.  Writes benchmarks/RESULTS.md; see
benchmarks/README.md for what is measured and how.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from safe_launch import sandbox
from safe_launch.spec import NOVA_SCHEDULER

from benchmarks import schedreport
from benchmarks import services
from benchmarks.services import BIN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOCK, SAFE = "nova-scheduler", "nova-scheduler-safe"
TARGET_RATIO = 1.05
TARGET_RSS_KIB = 5 * 1024
TARGET_HARDENING_MS = 50.0
TARGET_HYGIENE_MS = 10.0        # issue 14: the whole hygiene step
SCALE_SIZES = (0, 1, 10, 100, 1000, 3000)   # 3000: a wider span for the linearity test
VERSIONS = ("nova", "oslo.config", "oslo.messaging", "oslo.service", "oslo.log", "oslo.db",
            "oslo.concurrency", "cotyledon", "eventlet", "kombu", "SQLAlchemy",
            "keystoneauth1", "safe_launch")
STARTED = time.monotonic()


def say(message):
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - STARTED, message))
    sys.stderr.flush()


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def quartiles(values):
    values = sorted(v for v in values if v is not None)
    if len(values) < 4:
        return (values[0], values[-1]) if values else (None, None)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


# -- the environment of every child -----------------------------------------------

def child_env(pycache):
    """os.environ for the launched processes: same for stock and safe.

    PYTHONDONTWRITEBYTECODE is dropped and PYTHONPYCACHEPREFIX points at a
    private directory filled by the unmeasured warm-up launches.  Why this is
    fair: this checkout's editable safe_launch has no __pycache__ (the shell
    exports PYTHONDONTWRITEBYTECODE=1), so without it every safe launch would
    compile safe_launch's modules from source, which no installed deployment
    does (pip and distribution packages ship bytecode); nova and oslo have
    theirs.  With the prefix both binaries read every module's bytecode from
    the same warm cache.  The compile cost is still measured and reported
    (section "Bytecode").  NOTIFY_SOCKET and OS_<GROUP>__<OPT> variables are
    dropped: the benchmark's configuration is the sandbox's nova.conf only.
    """
    env = {k: v for k, v in os.environ.items()
           if not re.match(r"^OS_[A-Z0-9_]+__[A-Z0-9_]+$", k)}
    for key in ("PYTHONDONTWRITEBYTECODE", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env      # the benchmarks.* helpers run as python -m with cwd=ROOT


# -- machine ----------------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    meminfo = _read("/proc/meminfo")
    total = re.search(r"^MemTotal:\s*(\d+)", meminfo, re.M)
    osrel = re.search(r'^PRETTY_NAME="?(.*?)"?$', _read("/etc/os-release"), re.M)
    versions = {}
    for dist in VERSIONS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    versions["rabbitmq-server"] = _cmd(["dpkg-query", "-W", "-f=${Version}",
                                        "rabbitmq-server"]) or "unknown"
    versions["erlang"] = _cmd(["dpkg-query", "-W", "-f=${Version}", "erlang-base"]) or "unknown"
    cgroup = _read("/proc/self/cgroup").strip().rpartition(":")[2]
    limits = {}
    for name in ("cpu.max", "memory.max", "pids.max"):
        value = _read(os.path.join("/sys/fs/cgroup", cgroup.lstrip("/"), name)).strip()
        if value:
            limits[name] = value
    commit = _cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = bool(_cmd(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                       "--", "safe_launch", "setup.cfg"]))
    return {
        "cpu": model.group(1) if model else platform.processor() or "unknown",
        "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
        "memory_gib": int(total.group(1)) / 2 ** 20 if total else None,
        "kernel": platform.release(), "os": osrel.group(1) if osrel else platform.platform(),
        "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
        "versions": versions, "cgroup_limits": limits,
        "commit": (commit + (" (safe_launch/ has uncommitted changes)" if dirty else ""))
        or "unknown",
    }


class CpuMeter:
    """CPU used by the whole machine vs by this script and its reaped children.

    ``others`` = busy time in /proc/stat minus our own and our children's CPU
    time (os.times()); valid once every child has been waited for.  ``steal``:
    time the hypervisor gave to other guests.  All in CPU-seconds.
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        t = os.times()
        return {"wall": time.monotonic(), "busy": (user + nice + system + irq + softirq) / hz,
                "steal": steal / hz,
                "ours": t.user + t.system + t.children_user + t.children_system}

    def read(self):
        end = self._sample()
        d = {k: end[k] - self.start[k] for k in end}
        return {"wall": d["wall"], "others_cpus": max(0.0, d["busy"] - d["ours"]) / d["wall"],
                "ours_cpus": d["ours"] / d["wall"], "steal_cpus": d["steal"] / d["wall"]}


# -- the launch series ------------------------------------------------------------------

def series(name, pairs, template, workdir, env, transport_url, pinger=None, warmup=1):
    """``pairs`` interleaved pairs; pair i runs stock first when i is even, safe first
    when odd (A B, B A, ...), each launch on a fresh copy of the template."""
    results = []
    base = os.path.join(workdir, name)
    os.makedirs(base)
    for i in range(warmup):
        for binary in (STOCK, SAFE):
            conf = services.deploy(template, os.path.join(base, "warmup%d-%s" % (i, binary)),
                                   transport_url)
            r = services.run_once(binary, conf, env, name, -1, 0, pinger=pinger)
            say("%s warm-up %s: %s" % (name, binary, "ok" if r.ok and not r.error
                                       else "FAILED: %s" % r.error))
            if not r.ok:
                raise RuntimeError("%s warm-up launch of %s failed: %s; see %s"
                                   % (name, binary, r.error, os.path.dirname(conf)))
            shutil.rmtree(os.path.dirname(conf))
    for pair in range(pairs):
        order = (STOCK, SAFE) if pair % 2 == 0 else (SAFE, STOCK)
        for position, binary in enumerate(order):
            directory = os.path.join(base, "pair%02d-%s" % (pair, binary))
            conf = services.deploy(template, directory, transport_url)
            r = services.run_once(binary, conf, env, name, pair, position, pinger=pinger)
            results.append(r)
            say("%s pair %d %s: row %s ping %s master rss %s%s" % (
                name, pair, binary, fmt_s(r.t_row), fmt_s(r.t_ping),
                r.master and r.master["rss"], "" if not r.error else " ERROR " + r.error))
            if r.ok and not r.error:
                shutil.rmtree(directory)    # failures are kept for the report
    return results


def fmt_s(value):
    return "-" if value is None else "%.3f" % value


# -- safe-launch check against oslo-config-validator -------------------------------------

def full_sample(directory, env):
    """nova's full sample config with every option set to its default, and
    the two database connections (as tests/functional/test_config_checks.py
    builds it)."""
    sample = os.path.join(directory, "nova.conf.sample")
    argv = [os.path.join(BIN, "oslo-config-generator"), "--output-file", sample]
    for namespace in NOVA_SCHEDULER.namespaces:
        argv += ["--namespace", namespace]
    subprocess.run(argv, check=True, capture_output=True, timeout=300, env=env)
    lines = []
    with open(sample) as f:
        for line in f.read().splitlines():
            match = re.match(r"^#([A-Za-z0-9_-]+) = (.*)$", line)
            # skip <None>, <host> ... and prose defaults (privsep: multiprocessing.cpu_count())
            if match and not re.match(r"<|[\w.]+\(\)$", match.group(2)):
                line = "%s = %s" % match.groups()
            if line in ("[database]", "[api_database]"):    # what the scheduler needs
                line += "\nconnection = sqlite:///%s" % os.path.join(directory,
                                                                     line[1:-1] + ".sqlite")
            lines.append(line)
    conf = os.path.join(directory, "nova-full.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(conf, 0o640)
    keys = sum(1 for line in lines if re.match(r"^[A-Za-z]", line) and " = " in line)
    return conf, keys


def timed(argv, env):
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                            stdin=subprocess.DEVNULL)
    return time.monotonic() - start, result


def check_vs_validator(directory, env, reps):
    conf, keys = full_sample(directory, env)
    namespaces = [a for ns in NOVA_SCHEDULER.namespaces for a in ("--namespace", ns)]
    commands = {
        "safe-launch check": [os.path.join(BIN, "safe-launch"), "check", "--config-file", conf],
        # The validator's own --config-file is for its options; the file to
        # validate is --input-file.
        "oslo-config-validator": [os.path.join(BIN, "oslo-config-validator"),
                                  "--input-file", conf] + namespaces,
    }
    times = {name: [] for name in commands}
    outcome = {}
    for name, argv in commands.items():       # warm-up (page cache, bytecode cache)
        _, result = timed(argv, env)
        outcome[name] = result
    for i in range(reps):
        names = list(commands) if i % 2 == 0 else list(reversed(commands))
        for name in names:
            elapsed, result = timed(commands[name], env)
            times[name].append(elapsed)
            outcome[name] = result
    summary = {}
    for name, result in outcome.items():
        text = result.stdout + result.stderr
        if name == "safe-launch check":
            found = re.search(r"validate: (\d+) error\(s\), (\d+) warning\(s\)", text)
            errors, warnings = (int(found.group(1)), int(found.group(2))) if found else (None,
                                                                                         None)
        else:
            errors = len(re.findall(r"^ERROR:oslo_config.validator", text, re.M))
            warnings = len(re.findall(r"^WARNING:oslo_config.validator", text, re.M))
        summary[name] = {"exit": result.returncode, "errors": errors, "warnings": warnings,
                         "times": times[name], "median": med(times[name])}
    say("check %.3fs, validator %.3fs" % (
        summary["safe-launch check"]["median"], summary["oslo-config-validator"]["median"]))
    with open(conf) as f:
        conf_lines = sum(1 for _ in f)
    return {"keys": keys, "conf_lines": conf_lines, "tools": summary}


# -- in-process phases and bytecode -------------------------------------------------------

def inproc(template, directory, env, budget):
    conf = services.deploy(template, directory, "fake:/")
    result = subprocess.run([sys.executable, "-m", "benchmarks.inproc", "phases", conf,
                             directory, "--budget", str(budget)], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=600)
    if result.returncode:
        raise RuntimeError("benchmarks.inproc failed: %s" % result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def bytecode(env, workdir, reps):
    """Import time of safe_launch's launch-path modules with and without bytecode."""
    cold_env = dict(env, PYTHONDONTWRITEBYTECODE="1",
                    PYTHONPYCACHEPREFIX=os.path.join(workdir, "empty-pycache"))
    out = {"cached": [], "compiled": []}
    for i in range(reps + 1):
        for name, e in (("cached", env), ("compiled", cold_env)):
            result = subprocess.run([sys.executable, "-m", "benchmarks.inproc", "imports"],
                                    capture_output=True, text=True, env=e, cwd=ROOT,
                                    timeout=120)
            if result.returncode == 0 and i:       # the first round warms the page cache
                out[name].append(json.loads(result.stdout)["import_ms"])
    return {k: med(v) for k, v in out.items()}


# -- --config-dir scaling -------------------------------------------------------------------

SMALL_FILE = "[DEFAULT]\n# file %d of %d\nreport_interval = %d\n\n[scheduler]\nmax_attempts = 3\n"


def scaling(directory, env, reps):
    dirs = {}
    for n in SCALE_SIZES:
        d = os.path.join(directory, "confdir-%d" % n)
        os.makedirs(d, mode=0o750)
        for i in range(n):
            with open(os.path.join(d, "%04d.conf" % i), "w") as f:
                f.write(SMALL_FILE % (i + 1, n, 10 + i % 5))
        dirs[n] = d
    check = os.path.join(BIN, "safe-launch")
    times = {n: [] for n in SCALE_SIZES}
    exits = {}
    for n in SCALE_SIZES:        # warm-up
        timed([check, "check", "--config-dir", dirs[n]], env)
    for i in range(reps):
        # round robin, each round starting one size later, so drift spreads over sizes
        order = SCALE_SIZES[i % len(SCALE_SIZES):] + SCALE_SIZES[:i % len(SCALE_SIZES)]
        for n in order:
            elapsed, result = timed([check, "check", "--config-dir", dirs[n]], env)
            times[n].append(elapsed)
            exits[n] = result.returncode
            if result.returncode:
                say("check --config-dir (%d files) exited %d: %s"
                    % (n, result.returncode, (result.stdout + result.stderr)[-500:]))
    medians = {n: med(times[n]) for n in SCALE_SIZES}
    say("scaling: " + ", ".join("%d: %.3fs" % (n, medians[n]) for n in SCALE_SIZES))
    # least squares over every sample: t = a + b n
    xs = [n for n in SCALE_SIZES for _ in times[n]]
    ys = [t for n in SCALE_SIZES for t in times[n]]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    sizes = [n for n in SCALE_SIZES if n]
    # per-file cost between sizes; 0 files (no file at all) is shown, not used
    spans = ((1, 10), (10, 100), (100, 1000), (1000, 3000))
    slopes = {"%d-%d" % (lo, hi): (medians[hi] - medians[lo]) / (hi - lo) for lo, hi in spans}
    # growth exponent k of the per-file part, t(n) - t(1) ~ n^k, from 100 to 3000 files
    exponent = None
    d100, d3000 = medians[100] - medians[1], medians[3000] - medians[1]
    if d100 > 0 and d3000 > 0:
        import math
        exponent = math.log(d3000 / d100) / math.log(2999 / 99)
    # At most linear: the marginal cost per file from 1000 to 3000 files is no
    # more than from 100 to 1000 (x1.3 for noise; both spans are hundreds of
    # ms).  Quadratic growth would make the ratio about (3000+1000)/(1000+100),
    # 3.6.  Below 100 files the differences are within the run-to-run noise.
    growth = slopes["1000-3000"] / slopes["100-1000"] if slopes["100-1000"] > 0 else None
    linear = growth is not None and growth <= 1.3
    return {"times": times, "medians": medians, "fit": {"a": a, "b": b}, "slopes": slopes,
            "exponent": exponent, "growth": growth, "linear": linear,
            "exits": exits, "sizes": sizes}


# -- the report ---------------------------------------------------------------------------------

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


HARDENING = (
    ("guard", "argv guard (exact names, no repeats, typed values)"),
    ("hygiene", "process hygiene (umask, descriptors, environment, identity, core dumps, "
                "no_new_privs, sys.path)"),
    ("files_before_parse", "file checks before the parse (type, size, text) + config_source"),
    ("register_secrets", "secret values of argv, OS_* and the raw config files, for masking"),
    ("files_after_parse", "file policy after the parse (owner, mode, path) + unchanged proof"),
    ("eager_validation", "eager validation of every registered option"),
    ("unknown_keys", "unknown keys / sections / OS_* variables"),
    ("secret_values", "secret values of the configuration, for masking"),
    ("probe_and_worker_bound", "resource probe + worker bound"),
    ("audit_open", "audit file open (0600, O_NOFOLLOW, checks)"),
    ("import_paths", "import-path integrity of every module loaded once the service is created"),
)


def hardening_totals(phases, records):
    cold, warm = phases["first_call_us"], phases["median_us"]
    named = ("guard", "eager_validation", "resource_probe", "audit_record")
    total_cold = sum(cold.get(k, 0) for k, _ in HARDENING) + records * cold["emit_event"]
    total_warm = (sum(warm.get(k, cold.get(k, 0)) for k, _ in HARDENING)
                  + records * warm["emit_event"])
    return {"named_cold_ms": sum(cold[k] for k in named) / 1000,
            "named_warm_ms": sum(warm[k] for k in named) / 1000,
            "all_cold_ms": total_cold / 1000, "all_warm_ms": total_warm / 1000,
            "hygiene_cold_ms": sum(cold.get(k, 0) for k in ("hygiene", "import_paths")) / 1000}


def report(ctx):
    m, out = ctx["machine"], []
    w = out.append

    def cont(text):         # continue the previous paragraph
        out[-1] = out[-1].rstrip("\n") + text
    fake, rabbit = ctx["fake"], ctx.get("rabbit") or []
    records = med([r.audit_before_ready for r in fake + rabbit
                   if r.binary == SAFE and r.audit_before_ready]) or 8
    records = int(round(records))
    hard = hardening_totals(ctx["phases"], records)
    row_ratios, row_label = judged(fake, "t_row")
    rabbit_row, rabbit_row_label = judged(rabbit, "t_row")
    rabbit_ping, rabbit_ping_label = judged(rabbit, "t_ping")
    rss_master = deltas(fake, "master", "rss")
    fake_stock = med([r.t_row for r in fake if r.binary == STOCK])
    rabbit_stock = med([r.t_row for r in rabbit if r.binary == STOCK])
    ping_stock = med([r.t_ping for r in rabbit if r.binary == STOCK])
    # (name, required, value, shown, limit, gap in words)
    targets = [
        ("time to ready (services row, fake:/), median of per-pair safe/stock ratios, "
         + row_label, "<= %.2f" % TARGET_RATIO, med(row_ratios), "%.3f", TARGET_RATIO,
         lambda v: "%.3f over, about %.0f ms of a %.2f s launch"
         % (v - TARGET_RATIO, 1000 * (v - TARGET_RATIO) * fake_stock, fake_stock)),
    ]
    if rabbit:
        targets += [
            ("time to ready (services row, RabbitMQ), median ratio, " + rabbit_row_label,
             "<= %.2f" % TARGET_RATIO, med(rabbit_row), "%.3f", TARGET_RATIO,
             lambda v: "%.3f over, about %.0f ms" % (
                 v - TARGET_RATIO, 1000 * (v - TARGET_RATIO) * rabbit_stock)),
            ("time to first RPC ping answered (RabbitMQ), median ratio, " + rabbit_ping_label,
             "<= %.2f" % TARGET_RATIO, med(rabbit_ping), "%.3f", TARGET_RATIO,
             lambda v: "%.3f over, about %.0f ms" % (
                 v - TARGET_RATIO, 1000 * (v - TARGET_RATIO) * ping_stock)),
        ]
    targets += [
        ("master RSS, median of per-pair safe - stock (fake:/)", "<= +5 MiB",
         med(rss_master), None, TARGET_RSS_KIB,
         lambda v: "%.2f MiB over" % ((v - TARGET_RSS_KIB) / 1024)),
        ("process hygiene + import-path check, first calls", "<= 10 ms",
         hard["hygiene_cold_ms"], "%.1f ms", TARGET_HYGIENE_MS,
         lambda v: "%.1f ms over" % (v - TARGET_HYGIENE_MS)),
        ("all hardening phases together, first call (what a launch pays)", "<= 50 ms",
         hard["all_cold_ms"], "%.1f ms", TARGET_HARDENING_MS,
         lambda v: "%.1f ms over" % (v - TARGET_HARDENING_MS)),
    ]
    misses = []

    w("# nova-scheduler vs nova-scheduler-safe: benchmark results\n")
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
    loads = [r.load for r in fake + rabbit if r.load is not None]
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
        shown = (form % value) if form else signed_mib(value) + " MiB"
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
    w("- Bytecode: both binaries run with `PYTHONPYCACHEPREFIX` set to a private cache and "
      "without `PYTHONDONTWRITEBYTECODE` (see \"Bytecode\" below for why this is fair).\n")

    for title, results, with_ping in (("fake:/ transport", fake, False),
                                      ("private RabbitMQ", rabbit, True)):
        if not results:
            continue
        w("## Time to ready, %s\n" % title)
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
    w("\nRatio check / validator: %.2f. safe-launch's warnings are the deprecated-for-removal "
      "options the sample sets (the validator skips those). Note: the validator's own "
      "`--config-file` is for the validator's options; the file to validate is "
      "`--input-file`.\n" % (chk["median"] / val["median"]))
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

    ph = ctx["phases"]
    w("## In-process cost of the hardening phases (µs)\n")
    w("Measured in a fresh interpreter (`benchmarks/inproc.py`), phases called as "
      "`safe_launch/launcher.py` calls them, on the sandbox nova.conf after a real parse "
      "(%d registered options read). *First call* is what a launch pays (one call, cold "
      "caches: known_opts.json, package metadata, lazily imported modules); the median is "
      "over many calls (count in brackets).\n" % ph["extra"]["options_read"])
    w("| phase | first call | median (calls) |\n|---|---|---|")
    rows = list(HARDENING) + [
        ("resource_probe", "resource probe alone (`resources.probe()`)"),
        ("audit_record", "one audit record (O_APPEND write + fdatasync)"),
        ("emit_event", "one launch event: mask + console + audit record"),
    ]
    for key, label in rows:
        if key not in ph["first_call_us"]:
            continue        # a phase this safe_launch version does not have
        warm = ph["median_us"].get(key)
        w("| %s | %.0f | %s |" % (label, ph["first_call_us"][key],
                                  "%.0f (%d)" % (warm, ph["iterations"][key])
                                  if warm is not None else "-"))
    w("| the launcher's whole `validation()` (post-parse files + eager + unknown keys) | - | "
      "%.0f (%d) |" % (ph["median_us"]["validation_as_launcher"],
                       ph["iterations"]["validation_as_launcher"]))
    w("\nThe four phases the issue names (argv guard + eager validation + resource probe + one "
      "audit record): **%.1f ms** first call, %.1f ms median. Everything safe_launch adds "
      "in-process (the rows above without the double-counted probe/record rows, plus %d "
      "events, the number of audit records a safe launch wrote up to `service.ready` here): "
      "**%.1f ms** first call, %.1f ms median. Not hardening, for reference: "
      % (hard["named_cold_ms"], hard["named_warm_ms"], records, hard["all_cold_ms"],
         hard["all_warm_ms"])
      + "; ".join("%s %.1f ms" % (k, v / 1000) for k, v in ph["reference_us"].items()) + ".\n")

    bc = ctx["bytecode"]
    w("## Bytecode\n")
    w("Importing safe_launch's launch-path modules (after their oslo dependencies): %.1f ms "
      "from bytecode, %.1f ms when compiled from source, so a launch without bytecode for "
      "safe_launch pays about %.0f ms more than an installed one (pip and distribution "
      "packages ship bytecode). The launches above use one shared warm "
      "`PYTHONPYCACHEPREFIX` for both binaries.%s\n"
      % (bc["cached"] or 0, bc["compiled"] or 0, (bc["compiled"] or 0) - (bc["cached"] or 0),
         "" if not ctx.get("no_pycache") else " This matters here: this checkout's "
         "editable safe_launch has no `__pycache__` (PYTHONDONTWRITEBYTECODE=%s in the "
         "environment), so `nova-scheduler-safe` run as-is from it compiles safe_launch at "
         "every launch." % os.environ.get("PYTHONDONTWRITEBYTECODE", "unset")))

    sc = ctx["scaling"]
    w("## Scaling: `safe-launch check --config-dir` with 0 to 3000 files\n")
    w("Each file: `[DEFAULT] report_interval` and `[scheduler] max_attempts` (~80 bytes). "
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

    seg = segments(fake)
    stock_pool = med([r.pool_wait for r in fake if r.binary == STOCK])
    if seg:
        pre = seg[0][3]
        w("## Where safe_launch's launch time goes\n")
        minus = ratios(fake, "t_row", minus_pool=True)
        w("All of safe_launch's extra work happens in the master before nova's executor "
          "reset. There, on the fake:/ pairs, safe takes %+.0f ms (median of pairs) over "
          "stock's %.0f ms: in-process hardening %.1f ms (first calls, table above), "
          "importing safe_launch's modules %.1f ms, and %.0f ms of the rest of its launch "
          "path (the emitter and console lines, sd_notify and signal set-up, the CADF "
          "notifier, the worker monitor) and noise. nova's executor reset then adds the same "
          "~1 s to both launchers, which dilutes the ratio: %.3f as measured, %s with that "
          "wait removed from both times. Should a later nova or futurist stop waiting a full "
          "idle poll there, the same %+.0f ms would be about %.1f%% of a launch.\n" % (
              pre, seg[0][1], hard["all_cold_ms"], bc["cached"] or 0,
              pre - hard["all_cold_ms"] - (bc["cached"] or 0), med(row_ratios),
              "%.3f" % med(minus) if minus else "-", pre,
              100 * pre / 1000 / ((fake_stock or 1) - (stock_pool or 0))))

    w("## Misses\n")
    if not misses:
        w("None: every target is met.\n")
    else:
        gap = med([d[SAFE].t_row - d[STOCK].t_row for _, d in by_pair(fake)])
        seg = segments(fake)
        for name in misses:
            w("- **%s**: remaining gap %s." % (name, gaps[name]))
        w("\nDecomposition of the fake:/ services-row difference (median of pairs %+.0f ms): "
          "in-process hardening %.1f ms (first call), importing safe_launch %.1f ms%s; the "
          "rest is safe_launch's other launch work and noise (spread above).\n" % (
              1000 * (gap or 0), hard["all_cold_ms"], bc["cached"] or 0,
              "; master before nova's executor reset %+.0f ms, the reset and fork %+.0f ms, "
              "after the fork %+.0f ms" % (seg[0][3], seg[1][3], seg[2][3] + seg[3][3])
              if seg else ""))
    return "\n".join(out) + "\n", misses


# -- main ---------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--pairs", type=int, help="pairs per series (default 10, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 pairs, 3 reps")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "RESULTS.md"))
    parser.add_argument("--no-rabbit", action="store_true", help="skip the RabbitMQ series")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--scheduling", action="store_true",
                        help="run only the scheduling benchmark (benchmarks/scheduling.py)")
    parser.add_argument("--json-output", help="--scheduling: where scheduling.json goes")
    args = parser.parse_args(argv)
    if args.scheduling:
        from benchmarks import scheduling
        return scheduling.main(args)
    if args.pairs is not None and args.pairs < 1:
        parser.error("--pairs must be at least 1")
    pairs = args.pairs or (3 if args.quick else 10)
    reps = 3 if args.quick else 7
    budget = 0.3 if args.quick else 1.0
    if os.path.abspath(os.getcwd()) != ROOT:
        os.chdir(ROOT)

    def interrupted(signo, frame):
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, interrupted)

    workdir = tempfile.mkdtemp(prefix="safe-launch-bench-")
    env = child_env(os.path.join(workdir, "pycache"))
    ctx = {"command": "python -m benchmarks.run" + (" --quick" if args.quick else "")
           + (" --pairs %d" % args.pairs if args.pairs else ""),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "load": []}
    rabbit = pinger = None
    try:
        ctx["machine"] = machine()
        ctx["no_pycache"] = not os.path.isdir(os.path.join(ROOT, "safe_launch", "__pycache__"))
        whole = CpuMeter()
        ctx["load"].append(("start", os.getloadavg()[0]))
        say("work directory %s; preparing the template sandbox" % workdir)
        template = os.path.join(workdir, "template")
        sandbox.prepare(template)
        meter = CpuMeter()
        ctx["fake"] = series("fake", pairs, template, workdir, env, "fake:/")
        ctx["cpu"] = [("fake:/ series", meter.read())]
        ctx["load"].append(("after fake:/ series", os.getloadavg()[0]))
        from tests.functional import rabbit as rabbitmq
        if args.no_rabbit or not rabbitmq.available():
            say("RabbitMQ series skipped")
        else:
            say("starting a private RabbitMQ")
            meter = CpuMeter()
            rabbit = rabbitmq.Rabbit(os.path.join(workdir, "rabbitmq-server"))
            os.makedirs(rabbit.dir)
            rabbit.start()
            pinger = services.Pinger(rabbit.url, env, ROOT, os.path.join(workdir, "pinger.log"))
            if not pinger.wait_up():
                raise RuntimeError("the pinger did not connect: see %s/pinger.log" % workdir)
            ctx["rabbit"] = series("rabbit", pairs, template, workdir, env, rabbit.url,
                                   pinger=pinger)
            pinger.stop()
            pinger = None
            rabbit.stop()
            rabbit = None
            ctx["cpu"].append(("RabbitMQ series (RabbitMQ and pinger counted as ours)",
                               meter.read()))
            ctx["load"].append(("after RabbitMQ series", os.getloadavg()[0]))
        say("safe-launch check vs oslo-config-validator")
        os.makedirs(os.path.join(workdir, "check"))
        ctx["check"] = check_vs_validator(os.path.join(workdir, "check"), env, reps)
        say("in-process phases")
        ctx["phases"] = inproc(template, os.path.join(workdir, "inproc"), env, budget)
        ctx["bytecode"] = bytecode(env, workdir, 3 if args.quick else 5)
        say("--config-dir scaling")
        ctx["scaling"] = scaling(os.path.join(workdir, "scaling"), env, 3 if args.quick else 7)
        ctx["load"].append(("end", os.getloadavg()[0]))
        ctx["cpu"].append(("whole run", whole.read()))
        ctx["duration"] = time.monotonic() - STARTED
        text, misses = report(ctx)
        text = schedreport.keep_section(args.output, text)
        with open(args.output, "w") as f:
            f.write(text)
        say("wrote %s (%s)" % (args.output, "targets met" if not misses
                               else "MISSED: " + "; ".join(misses)))
        return 0
    finally:
        if pinger is not None:
            pinger.stop()
        services.kill_all()
        if rabbit is not None:
            rabbit.stop()
        if args.keep:
            say("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
