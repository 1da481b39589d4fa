"""Stock nova-scheduler against nova-scheduler-safe, on one machine, in one run.

    bash tools/bench.sh [--pairs N] [--quick] [--output PATH]

(tools/bench.sh installs what it needs, then runs ``.venv/bin/python -m
benchmarks.run`` from the repository root.)  This module measures; the
report is :mod:`benchmarks.report`, which writes the launch section of
benchmarks/RESULTS.md.  See benchmarks/README.md for what is measured and how.
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

from benchmarks import report
from benchmarks import services
from benchmarks.report import fmt_s, med
from benchmarks.services import BIN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOCK, SAFE = "nova-scheduler", "nova-scheduler-safe"
SCALE_SIZES = report.SCALE_SIZES   # 3000 files: a wider span for the linearity test
VERSIONS = ("nova", "oslo.config", "oslo.messaging", "oslo.service", "oslo.log", "oslo.db",
            "oslo.concurrency", "cotyledon", "eventlet", "kombu", "SQLAlchemy",
            "keystoneauth1", "safe_launch")
STARTED = time.monotonic()


def say(message):
    sys.stderr.write("[%6.1fs] %s\n" % (time.monotonic() - STARTED, message))
    sys.stderr.flush()


# -- the environment of every child -----------------------------------------------

def child_env(pycache):
    """os.environ for the launched processes: same for stock and safe.

    PYTHONDONTWRITEBYTECODE is dropped and PYTHONPYCACHEPREFIX points at a
    private directory filled by the unmeasured warm-up launches, so every
    module is read from bytecode, as from an installed package (this
    checkout's shell exports PYTHONDONTWRITEBYTECODE=1).  nova-scheduler-safe's
    isolated interpreter (python -I) ignores both and reads each module's own
    __pycache__, which its warm-up launch fills for safe_launch.  The compile
    cost is still measured and reported
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

def series(name, pairs, template, workdir, env, transport_url, pinger=None, warmup=1,
           settle=2.0):
    """``pairs`` interleaved pairs; pair i runs stock first when i is even, safe first
    when odd (A B, B A, ...), each launch on a fresh copy of the template.
    ``settle``: seconds after the services row before memory is sampled."""
    results = []
    base = os.path.join(workdir, name)
    os.makedirs(base)
    for i in range(warmup):
        for binary in (STOCK, SAFE):
            conf = services.deploy(template, os.path.join(base, "warmup%d-%s" % (i, binary)),
                                   transport_url)
            r = services.run_once(binary, conf, env, name, -1, 0, pinger=pinger,
                                  settle=settle)
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
            r = services.run_once(binary, conf, env, name, pair, position, pinger=pinger,
                                  settle=settle)
            results.append(r)
            say("%s pair %d %s: row %s ping %s master rss %s%s" % (
                name, pair, binary, fmt_s(r.t_row), fmt_s(r.t_ping),
                r.master and r.master["rss"], "" if not r.error else " ERROR " + r.error))
            if r.ok and not r.error:
                shutil.rmtree(directory)    # failures are kept for the report
    return results


def before_structure():
    """The figures of the commit before the structure work, to set beside this run's."""
    try:
        with open(os.path.join(ROOT, "benchmarks", "results", "before-structure.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


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


def check_env(env):
    """``env`` for ``safe-launch check``: as root (CI, this machine), with
    ``[safe_launch] allow_root`` set from the environment, as the sandbox's
    nova.conf sets it for the launches; the checked files stay as generated
    (the validator reads the same bytes)."""
    if os.geteuid() != 0:
        return env
    return dict(env, OS_SAFE_LAUNCH__ALLOW_ROOT="true")


def timed(argv, env):
    start = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300,
                            stdin=subprocess.DEVNULL)
    return time.monotonic() - start, result


def check_vs_validator(directory, env, reps):
    conf, keys = full_sample(directory, env)
    namespaces = [a for ns in NOVA_SCHEDULER.namespaces for a in ("--namespace", ns)]
    envs = {"safe-launch check": check_env(env), "oslo-config-validator": env}
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
        _, result = timed(argv, envs[name])
        outcome[name] = result
    for i in range(reps):
        names = list(commands) if i % 2 == 0 else list(reversed(commands))
        for name in names:
            elapsed, result = timed(commands[name], envs[name])
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


# -- one CPU kept busy ----------------------------------------------------------------------

class Busy:
    """One CPU-bound process for the contention series: started before it,
    stopped (by pid, through services.Tracked) after it, and its CPU use
    measured, so the report says how busy "busy" was."""

    def __init__(self, workdir, env):
        self.proc = services.Tracked([sys.executable, "-c", "while True: pass"],
                                     os.path.join(workdir, "busy.log"), env)
        self.started = time.monotonic()

    def stop(self):
        ticks = self._ticks()
        wall = time.monotonic() - self.started
        self.proc.stop(timeout=5)
        return ticks / os.sysconf("SC_CLK_TCK") / wall if ticks is not None else None

    def _ticks(self):
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rpartition(")")[2].split()
            return int(fields[11]) + int(fields[12])        # utime + stime
        except (OSError, ValueError, IndexError):
            return None


# -- the launch path, step by step ------------------------------------------------------------

def steps(template, directory, env, runs):
    """``runs`` fresh interpreters of ``benchmarks.inproc steps``, each one launch's
    first call of every step, after one that lists stock's modules."""
    conf = services.deploy(template, directory, "fake:/")
    stock_list = os.path.join(directory, "stock-modules.json")

    def child(*argv):
        result = subprocess.run([sys.executable, "-m", "benchmarks.inproc"] + list(argv),
                                capture_output=True, text=True, env=env, cwd=ROOT,
                                timeout=300, stdin=subprocess.DEVNULL)
        if result.returncode:
            raise RuntimeError("benchmarks.inproc %s failed: %s"
                               % (argv[0], result.stderr[-2000:]))
        return json.loads(result.stdout.strip().splitlines()[-1])     # nova logs before it
    stock = child("stock-modules", conf)
    with open(stock_list, "w") as f:
        json.dump(stock, f)
    out = []
    for i in range(runs + 1):
        result = child("steps", conf, stock_list)
        if i:           # the first fills the page cache and the audit file's directory
            out.append(result)
            say("steps: total %.1f ms" % (sum(result["us"].values()) / 1000))
    return {"runs": out, "stock_modules": len(stock), "stock": stock, "stock_list": stock_list}


# Modules whose import cost is reported (python -X importtime): the package
# and each phase's module.
IMPORT_MODULES = ("safe_launch", "safe_launch.cmd.scheduler", "safe_launch.launcher",
                  "safe_launch.argv", "safe_launch.parse", "safe_launch.hygiene",
                  "safe_launch.validate", "safe_launch.typed", "safe_launch.requirements",
                  "safe_launch.masking", "safe_launch.workers", "safe_launch.resources",
                  "safe_launch.patching", "safe_launch.trail", "safe_launch.audit",
                  "safe_launch.supervise")
# Not safe_launch.service: a launch imports it once patching chose the
# backend; imported alone, oslo.service would load its eventlet backend.


def importtime(env, stock, runs):
    """{module: own/foreign/cumulative µs} from ``python -X importtime -c 'import M'``."""
    stock = set(stock)
    samples = {name: [] for name in IMPORT_MODULES}
    for _ in range(runs):
        for name in IMPORT_MODULES:
            result = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", "import sys, %s; "
                 "sys.stdout.write(' '.join(sys.modules))" % name], capture_output=True,
                text=True, env=env, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
            loaded = set(result.stdout.split())     # -X importtime lists failed tries too
            own = foreign = cumulative = 0
            names = []
            for line in result.stderr.splitlines():
                found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", line)
                if not found:
                    continue
                self_us, cum_us, module = int(found.group(1)), int(found.group(2)), \
                    found.group(4)
                if module == name:
                    cumulative = cum_us
                if module not in loaded:
                    continue
                if module.partition(".")[0] == "safe_launch":
                    own += self_us
                elif module not in stock:
                    foreign += self_us
                    names.append(module)
            samples[name].append((own, foreign, cumulative, names))
    return {"runs": runs, "modules": {
        name: {"own_us": med([s[0] for s in rows]), "foreign_us": med([s[1] for s in rows]),
               "cumulative_us": med([s[2] for s in rows]), "foreign": rows[-1][3]}
        for name, rows in samples.items()}}


# -- bytecode ------------------------------------------------------------------------------

def bytecode(env, reps, stock_list):
    """Import time of safe_launch's modules with and without bytecode, once the
    modules stock imports too are loaded."""
    out = {"cached": [], "compiled": []}
    for i in range(reps + 1):
        for name, flag in (("cached", []), ("compiled", ["--compiled"])):
            result = subprocess.run([sys.executable, "-m", "benchmarks.inproc", "imports",
                                     stock_list] + flag, capture_output=True, text=True,
                                    env=env, cwd=ROOT, timeout=300)
            if result.returncode == 0 and i:       # the first round warms the page cache
                out[name].append(json.loads(result.stdout.strip().splitlines()[-1])["import_ms"])
    return {k: med(v) for k, v in out.items()}


# -- --config-dir scaling -------------------------------------------------------------------

SMALL_FILE = "[DEFAULT]\n# file %d of %d\nreport_interval = %d\n\n[scheduler]\nmax_attempts = 3\n"


def scaling(directory, env, reps):
    # The connections the scheduler cannot start without, from the
    # environment: the same for every size, the empty directory included.
    env = dict(check_env(env), **{
        "OS_%s__CONNECTION" % group.upper(): "sqlite:///%s" % os.path.join(directory, group)
        for group in ("database", "api_database")})
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


# -- main ---------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--pairs", type=int, help="pairs per series (default 10, --quick 3)")
    parser.add_argument("--rabbit-pairs", type=int,
                        help="pairs of the RabbitMQ series (default: --pairs, at most 6)")
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
    if os.path.abspath(os.getcwd()) != ROOT:
        os.chdir(ROOT)

    def interrupted(signo, frame):
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, interrupted)

    workdir = tempfile.mkdtemp(prefix="safe-launch-bench-")
    env = child_env(os.path.join(workdir, "pycache"))
    given = sys.argv[1:] if argv is None else argv
    ctx = {"command": " ".join(["bash tools/bench.sh"] + list(given)),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "load": [], "before": before_structure()}
    rabbit = pinger = busy = None
    try:
        ctx["machine"] = machine()
        whole = CpuMeter()
        ctx["load"].append(("start", os.getloadavg()[0]))
        say("work directory %s; preparing the template sandbox" % workdir)
        template = os.path.join(workdir, "template")
        sandbox.prepare(template)
        meter = CpuMeter()
        ctx["fake"] = series("fake", pairs, template, workdir, env, "fake:/")
        ctx["cpu"] = [("fake:/ series", meter.read())]
        ctx["load"].append(("after fake:/ series", os.getloadavg()[0]))
        say("one CPU busy from now on")
        meter = CpuMeter()
        busy = Busy(workdir, env)
        # Its memory is not reported (the idle series' is): no 2 s wait per launch.
        ctx["busy"] = series("busy", pairs, template, workdir, env, "fake:/", settle=0.3)
        ctx["busy_cpu"] = busy.stop()
        busy = None
        ctx["cpu"].append(("fake:/ series with one CPU busy (the busy process counted as "
                           "ours)", meter.read()))
        ctx["load"].append(("after the one-CPU-busy series", os.getloadavg()[0]))
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
            # Fewer pairs by default: no issue-18 target is judged on this series,
            # and its launches are what keeps the whole run within 12 minutes.
            ctx["rabbit"] = series("rabbit", args.rabbit_pairs or min(pairs, 6), template,
                                   workdir, env, rabbit.url,
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
        say("the launch path, step by step")
        ctx["steps"] = steps(template, os.path.join(workdir, "steps"), env, 3 if args.quick else 7)
        say("import times")
        ctx["importtime"] = importtime(env, ctx["steps"].pop("stock"), 1 if args.quick else 2)
        ctx["bytecode"] = bytecode(env, 3 if args.quick else 5,
                                   ctx["steps"]["stock_list"])
        say("--config-dir scaling")
        ctx["scaling"] = scaling(os.path.join(workdir, "scaling"), env, 3 if args.quick else 5)
        ctx["load"].append(("end", os.getloadavg()[0]))
        ctx["cpu"].append(("whole run", whole.read()))
        ctx["duration"] = time.monotonic() - STARTED
        text, misses = report.report(ctx)
        report.write(args.output, text)
        say("wrote %s (%s)" % (args.output, "targets met" if not misses
                               else "MISSED: " + "; ".join(misses)))
        return 0
    finally:
        if busy is not None:
            busy.stop()
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
