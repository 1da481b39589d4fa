"""The scheduling benchmark: ``python -m benchmarks.run --scheduling [--quick]``.

Stock ``nova-scheduler`` against ``nova-scheduler-safe`` answering real
``select_destinations`` calls, on the database nova runs on in production:

- MariaDB: the system one on 127.0.0.1:3306 (root, no password), with
  uniquely named databases (nova api, cell0, cell1, placement) dropped at the
  end; nova's made by ``nova-manage``, placement's by ``placement-manage``;
- placement 16.0.0 (nova 34's release) under gunicorn on 127.0.0.1, with
  ``[api] auth_strategy = noauth2``, from its own venv ``.venv-placement``
  (created on first use from benchmarks/requirements-scheduling.txt; PyMySQL
  is also installed into the running venv, for nova);
- a private RabbitMQ (tests/functional/rabbit.py);
- HOSTS compute hosts created through the real APIs (benchmarks/schedclient.py),
  their services kept up by a heartbeat, as nova-compute's report does;
- C client threads issuing ``select_destinations`` through nova's SchedulerAPI.

Points: workers 1 and 2 without constraint; then, with the worker count left
to each binary (``[scheduler] workers`` unset), a cgroup v1 with a 1-CPU quota
(``cpu1``) and one whose memory limit is too small for the worker count stock
picks (``mem``).  Each launch serves every client count in turn; stock and
safe alternate launch by launch, in ABAB / BABA order per round, so that the
load of a shared machine hits both alike.  Placement's allocations are
cleared before each launch, so every launch starts from the same state.

Writes benchmarks/results/scheduling.json and the scheduling section of
benchmarks/RESULTS.md (benchmarks/schedreport.py).
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

from benchmarks import cgroupv1
from benchmarks import schedreport
from benchmarks import services

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
PLACEMENT_VENV = os.path.join(ROOT, ".venv-placement")
REQUIREMENTS = os.path.join(ROOT, "benchmarks", "requirements-scheduling.txt")
DB_URL = "mysql+pymysql://root@127.0.0.1/%s?charset=utf8"
STOCK, SAFE = "nova-scheduler", "nova-scheduler-safe"
BINARIES = {"stock": STOCK, "safe": SAFE}
HOSTS = 100
CLIENTS = (4, 16)
CPU_QUOTA = {"cpu.cfs_period_us": 100000, "cpu.cfs_quota_us": 100000}
# Between what master + 1 worker and master + 2 workers use under this load:
# peaks of 236-244 MiB and 311-319 MiB measured here (memory.max_usage_in_bytes
# of unlimited accounting cgroups; each launch's peak is in scheduling.json).
MEM_LIMIT_MIB = 280
FILL_TIMEOUT = 300           # s: schedclient.load's default
CLIENT_RPC_TIMEOUT = 180    # s: a slow answer is slow, not an error
# select_destinations is monitored (call_monitor_timeout = rpc_response_timeout):
# a worker processing the call heartbeats, one killed is noticed within this.
HEARTBEAT_TIMEOUT = 60

NOVA_CONF = """\
[DEFAULT]
transport_url = {transport_url}
state_path = {dir}
host = schedbench-scheduler
debug = {debug}

[api_database]
connection = {api}

[database]
connection = {cell1}

[oslo_concurrency]
lock_path = {dir}/lock

[scheduler]
{workers_line}

# placement's noauth2 takes the token as user[:project]; "admin" has the admin role.
[placement]
auth_type = admin_token
endpoint = {placement}
token = admin

[safe_launch]
audit_log = {dir}/audit.jsonl
# The benchmark runs as root (cgroups): serving as root is refused otherwise, as in
# the sandbox (safe_launch.sandbox); stock serves as root without asking.
allow_root = true
"""

PLACEMENT_CONF = """\
[DEFAULT]
debug = false

[api]
auth_strategy = noauth2

[placement_database]
connection = {connection}
"""

STARTED = time.monotonic()


def say(message):
    sys.stderr.write("[%6.1fs] scheduling: %s\n" % (time.monotonic() - STARTED, message))
    sys.stderr.flush()


# -- what the benchmark installs ------------------------------------------------------------

def ensure_installed():
    """PyMySQL in this venv (nova's driver); placement + gunicorn in .venv-placement."""
    pin = {}
    with open(REQUIREMENTS) as f:
        for line in f:
            name, sep, version = line.strip().partition("==")
            if sep:
                pin[name] = version
    try:
        import pymysql  # noqa: F401
    except ImportError:
        say("installing PyMySQL into %s" % sys.prefix)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c",
                        os.path.join(ROOT, "constraints.txt"), "PyMySQL==" + pin["PyMySQL"]],
                       check=True)
    gunicorn = os.path.join(PLACEMENT_VENV, "bin", "gunicorn")
    if not os.path.exists(os.path.join(PLACEMENT_VENV, "bin", "placement-manage")) \
            or not os.path.exists(gunicorn):
        say("creating %s (placement, PyMySQL, gunicorn)" % PLACEMENT_VENV)
        subprocess.run([sys.executable, "-m", "venv", "--clear", PLACEMENT_VENV], check=True)
        subprocess.run([os.path.join(PLACEMENT_VENV, "bin", "pip"), "install", "-q", "-c",
                        os.path.join(ROOT, "constraints.txt"), "-r", REQUIREMENTS], check=True)


# -- the deployment -------------------------------------------------------------------------

def mysql():
    import pymysql
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)


def step(argv, env, timeout=600):
    """Run a setup command; on failure raise with the last lines of its stderr."""
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError("%s exited %d: %s" % (" ".join(argv[:3]), done.returncode,
                                                 " | ".join(done.stderr.splitlines()[-3:])))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """MariaDB databases, RabbitMQ, placement, the hosts and the client process."""

    def __init__(self, workdir, env):
        self.workdir, self.env = workdir, env
        tag = uuid.uuid4().hex[:8]
        self.dbs = {k: "schedbench_%s_%s" % (tag, k)
                    for k in ("api", "cell0", "cell1", "placement")}
        self.created = []
        self.rabbit = self.placement = self.client = None
        self.stop_heartbeat = threading.Event()
        self.heartbeat = None

    def conf(self, name, workers, debug=False):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(NOVA_CONF.format(
                dir=self.workdir, transport_url=self.rabbit.url, debug=str(debug).lower(),
                api=DB_URL % self.dbs["api"], cell1=DB_URL % self.dbs["cell1"],
                placement=self.placement_url,
                workers_line="" if workers is None else "workers = %d" % workers))
        os.chmod(path, 0o640)
        return path

    def setup(self):
        db = mysql()
        try:
            with db.cursor() as cur:
                for name in self.dbs.values():
                    cur.execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4" % name)
                    self.created.append(name)
        finally:
            db.close()
        from tests.functional import rabbit as rabbitmq
        if not rabbitmq.available():
            raise RuntimeError("rabbitmq-server is not installed (apt-get install "
                               "rabbitmq-server)")
        say("starting a private RabbitMQ and placement while nova-manage runs")
        self.rabbit = rabbitmq.Rabbit(os.path.join(self.workdir, "rabbitmq-server"))
        os.makedirs(self.rabbit.dir)
        self.placement_url = "http://127.0.0.1:%d" % free_port()
        failures = []

        def background(start):
            try:
                start()
            except Exception as exc:
                failures.append(exc)
        starters = [threading.Thread(target=background, args=(f,))
                    for f in (self.rabbit.start, self.start_placement)]
        for thread in starters:
            thread.start()
        os.makedirs(os.path.join(self.workdir, "lock"))
        conf = self.conf("nova-manage.conf", None)
        manage = os.path.join(BIN, "nova-manage")
        say("nova-manage: api_db sync, map_cell0, create_cell, db sync (MariaDB)")
        for args in (["api_db", "sync"],
                     ["cell_v2", "map_cell0", "--database_connection",
                      DB_URL % self.dbs["cell0"]],
                     ["cell_v2", "create_cell", "--name", "cell1", "--database_connection",
                      DB_URL % self.dbs["cell1"], "--transport-url", self.rabbit.url],
                     ["db", "sync"]):
            step([manage, "--config-file", conf] + args, self.env)
        for thread in starters:
            thread.join()
        if failures:
            raise failures[0]
        client_conf = os.path.join(self.workdir, "client.conf")
        with open(client_conf, "w") as f:
            f.write("[DEFAULT]\nlong_rpc_timeout = %d\nrpc_response_timeout = %d\n"
                    % (CLIENT_RPC_TIMEOUT, HEARTBEAT_TIMEOUT))
        self.client = services.Tracked(
            [sys.executable, "-m", "benchmarks.schedclient", conf, client_conf],
            os.path.join(self.workdir, "client.log"), self.env, cwd=ROOT,
            stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        self.ask(None, timeout=120)             # its "up" line
        say("creating %d compute hosts (placement API + nova objects)" % HOSTS)
        reply = self.ask({"op": "hosts", "n": HOSTS, "placement": self.placement_url},
                         timeout=600)
        if not reply.get("ok"):
            raise RuntimeError("creating the hosts failed: %s" % reply.get("error"))
        self.beat()
        self.heartbeat = threading.Thread(target=self.beats, daemon=True)
        self.heartbeat.start()

    def start_placement(self):
        pdir = os.path.join(self.workdir, "placement")
        os.makedirs(pdir)
        with open(os.path.join(pdir, "placement.conf"), "w") as f:
            f.write(PLACEMENT_CONF.format(connection=DB_URL % self.dbs["placement"]))
        penv = dict(self.env, OS_PLACEMENT_CONFIG_DIR=pdir)
        step([os.path.join(PLACEMENT_VENV, "bin", "placement-manage"), "--config-file",
              os.path.join(pdir, "placement.conf"), "db", "sync"], penv)
        port = int(self.placement_url.rpartition(":")[2])
        # 2 processes (one per CPU) x 4 threads: placement is never the limit of
        # a 1- or 2-worker scheduler here, and it is the same for both binaries.
        self.placement = services.Tracked(
            [os.path.join(PLACEMENT_VENV, "bin", "gunicorn"), "--bind", "127.0.0.1:%d" % port,
             "--workers", "2", "--worker-class", "gthread", "--threads", "4",
             "--timeout", "120", "placement.wsgi.api:application"],
            os.path.join(pdir, "gunicorn.log"), penv, cwd=pdir)
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(self.placement_url + "/", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                if self.placement.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("placement did not answer: see %s/gunicorn.log" % pdir)
                time.sleep(0.5)

    def ask(self, command, timeout):
        """Send one command to the client process; its JSON reply, within ``timeout`` s."""
        proc = self.client.proc
        if command is not None:
            proc.stdin.write((json.dumps(command) + "\n").encode())
            proc.stdin.flush()
        box = []
        reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            raise RuntimeError("the client did not answer %s within %ds: see %s/client.log"
                               % (command, timeout, self.workdir))
        return json.loads(box[0])

    def beat(self):
        db = mysql()
        try:
            with db.cursor() as cur:
                cur.execute("UPDATE `%s`.services SET updated_at = UTC_TIMESTAMP(), "
                            "last_seen_up = UTC_TIMESTAMP(), report_count = report_count + 1 "
                            "WHERE `binary` = 'nova-compute'" % self.dbs["cell1"])
        finally:
            db.close()

    def beats(self):
        """nova-compute's service report, every 10 s (service_down_time is 60 s)."""
        while not self.stop_heartbeat.wait(10):
            try:
                self.beat()
            except Exception as exc:     # the next beat retries; the hosts stay up 60 s
                say("heartbeat failed: %s" % exc)

    def clear_allocations(self):
        db = mysql()
        try:
            with db.cursor() as cur:
                for table in ("allocations", "consumers"):
                    cur.execute("DELETE FROM `%s`.%s" % (self.dbs["placement"], table))
        finally:
            db.close()

    def teardown(self):
        self.stop_heartbeat.set()
        if self.client is not None:
            try:
                self.client.proc.stdin.close()
            except OSError:
                pass
            self.client.stop(10)
        if self.placement is not None:
            self.placement.stop(10)
        if self.rabbit is not None:
            self.rabbit.stop()
        if self.created:
            db = mysql()
            try:
                with db.cursor() as cur:
                    for name in self.created:
                        cur.execute("DROP DATABASE IF EXISTS `%s`" % name)
            finally:
                db.close()


# -- one launch -----------------------------------------------------------------------------

def cgroups_for(kind):
    """The launch's cgroups: always a memory one (its usage and OOM kills are reported),
    limited only for ``mem``; a 1-CPU quota for ``cpu1``."""
    limit = MEM_LIMIT_MIB * 2 ** 20 if kind == "mem" else -1
    groups = [cgroupv1.Group("memory", {"memory.limit_in_bytes": limit})]
    if kind == "cpu1":
        groups.append(cgroupv1.Group("cpu", CPU_QUOTA))
    return groups


class Watch:
    """Every worker pid seen under the master, and whether the master died, every 0.25 s."""

    def __init__(self, tracked):
        self.tracked, self.seen, self.most = tracked, set(), 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.25):
            if self.tracked.proc.poll() is not None:
                return
            children = self.tracked.children()
            self.seen.update(children)
            self.most = max(self.most, len(children))

    def end(self):
        self.stop.set()
        self.thread.join(5)


def launch(dep, binary, workers, kind, clients, warmup, seconds, index):
    """One scheduler launch serving each client count in turn: a list of point rounds."""
    dep.clear_allocations()
    conf = dep.conf("nova-%s.conf" % (workers or "auto"), workers)
    groups = cgroups_for(kind)
    log = os.path.join(dep.workdir, "launch-%03d-%s-%s-%s.log" % (index, binary, kind,
                                                                  workers or "auto"))
    tracked = None
    try:
        argv = cgroupv1.wrap([os.path.join(BIN, BINARIES[binary]), "--config-file", conf],
                             groups)
        tracked = services.Tracked(argv, log, dep.env)
        watch = Watch(tracked)
        probe = dep.ask({"op": "probe", "timeout": 90}, timeout=120)
        out = []
        for count in clients:
            reply = dep.ask({"op": "load", "clients": count, "warmup": warmup,
                             "seconds": seconds},
                            timeout=FILL_TIMEOUT + warmup + seconds + 2 * CLIENT_RPC_TIMEOUT)
            out.append({"binary": binary, "workers": workers, "clients": count, "cgroup": kind,
                        "calls": reply.get("calls", 0), "errors": reply.get("errors", 0),
                        "seconds": seconds, "latencies_ms": reply.get("latencies_ms", []),
                        "error_kinds": reply.get("error_kinds", {}),
                        "probe_ok": probe.get("ok"), "fill_s": reply.get("fill_s"),
                        "client_error": reply.get("error")})
        watch.end()
        status = tracked.proc.poll()
        stats = {"forked": watch.most, "worker_pids_seen": len(watch.seen),
                 "master_exited": status}
        for group in groups:
            if group.controller == "memory":
                stats["oom_kills"] = group.keyed("memory.oom_control").get("oom_kill", 0)
                stats["failcnt"] = int(group.read("memory.failcnt").strip() or 0)
                stats["max_usage_mib"] = int(group.read("memory.max_usage_in_bytes")
                                             .strip() or 0) / 2 ** 20
            if group.controller == "cpu":
                stats["throttled"] = group.keyed("cpu.stat").get("nr_throttled", 0)
        exit_status, _ = tracked.stop(30)
        tracked = None
        stats["exit_status"] = exit_status
        stats["decision"] = decision(log) if binary == "safe" else None
        for point in out:
            point.update(stats)
        return out
    finally:
        if tracked is not None:
            tracked.stop(30)
        for group in groups:
            group.remove()


def decision(log):
    """safe's one-line worker decision from its console output."""
    with open(log, errors="replace") as f:
        for line in f:
            if "workers=" in line and line.startswith(SAFE):
                return line.strip()[:300]
    return None


def hosts_filtered(dep, binary):
    """A debug launch answering one call: how many hosts ComputeFilter passed."""
    conf = dep.conf("nova-debug.conf", 1, debug=True)
    log = os.path.join(dep.workdir, "hosts-%s.log" % binary)
    tracked = services.Tracked([os.path.join(BIN, BINARIES[binary]), "--config-file", conf],
                               log, dep.env)
    try:
        probe = dep.ask({"op": "probe", "timeout": 90}, timeout=120)
    finally:
        tracked.stop(30)
    with open(log, errors="replace") as f:
        found = re.findall(r"Filter ComputeFilter returned (\d+) host", f.read())
    return {"probe_ok": probe.get("ok"), "compute_filter_hosts": max(map(int, found))
            if found else None}


# -- the run ---------------------------------------------------------------------------------

def plan(rounds):
    """(round, binary, workers, cgroup) in run order: stock/safe alternate, ABAB then BABA."""
    configs = [(1, "none"), (2, "none"), (None, "cpu1"), (None, "mem")]
    out = []
    for r in range(rounds):
        order = ("stock", "safe") if r % 2 == 0 else ("safe", "stock")
        for workers, kind in configs:
            for binary in order:
                out.append((r, binary, workers, kind))
    return out


def run(quick=False, keep=False, output_json=None, output_md=None):
    rounds, warmup, seconds = (1, 2, 8) if quick else (2, 3, 12)
    for controller in ("cpu", "memory"):
        if not cgroupv1.available(controller):
            raise RuntimeError("cgroup v1 %s controller not writable here" % controller)
    ensure_installed()
    from benchmarks import run as bench
    workdir = tempfile.mkdtemp(prefix="safe-launch-schedbench-")
    env = bench.child_env(os.path.join(workdir, "pycache"))
    dep = Deployment(workdir, env)
    started = time.monotonic()
    ctx = {"command": "python -m benchmarks.run --scheduling" + (" --quick" if quick else ""),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "rounds": rounds, "warmup_s": warmup, "seconds": seconds, "hosts": HOSTS,
           "mem_limit_mib": MEM_LIMIT_MIB, "load": [os.getloadavg()[0]]}
    try:
        ctx["machine"] = bench.machine()
        dep.setup()
        ctx["placement"] = placement_versions()
        say("checking the scheduler filters over every host (a debug launch)")
        ctx["hosts_check"] = hosts_filtered(dep, "safe")
        say("hosts seen by ComputeFilter: %s" % ctx["hosts_check"])
        runs = []
        steps = plan(rounds)
        for index, (r, binary, workers, kind) in enumerate(steps):
            say("%d/%d round %d: %s workers=%s cgroup=%s" % (
                index + 1, len(steps), r + 1, binary, workers or "auto", kind))
            for point in launch(dep, binary, workers, kind, CLIENTS, warmup, seconds, index):
                point["round"] = r
                runs.append(point)
                say("  clients=%d: %.1f calls/s, %d errors, forked %s, oom %s" % (
                    point["clients"], point["calls"] / seconds, point["errors"],
                    point["forked"], point.get("oom_kills", "-")))
            ctx["load"].append(os.getloadavg()[0])
        ctx["duration_s"] = time.monotonic() - started
        doc = schedreport.document(ctx, runs)
        path = output_json or os.path.join(ROOT, "benchmarks", "results", "scheduling.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        md = output_md or os.path.join(ROOT, "benchmarks", "RESULTS.md")
        misses = schedreport.write_section(md, doc)
        say("wrote %s and %s's scheduling section (%s); %.0f s" % (
            path, md, "targets met" if not misses else "MISSED: " + "; ".join(misses),
            ctx["duration_s"]))
        return 0
    finally:
        services.kill_all()
        dep.teardown()
        if keep:
            say("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def placement_versions():
    out = subprocess.run([os.path.join(PLACEMENT_VENV, "bin", "pip"), "freeze"],
                         capture_output=True, text=True, timeout=60).stdout
    keep = ("openstack-placement", "PyMySQL", "gunicorn", "SQLAlchemy", "oslo.db")
    return dict(line.split("==", 1) for line in out.splitlines()
                if "==" in line and line.split("==")[0] in keep)


def main(args):
    """``python -m benchmarks.run --scheduling``: ``args`` from run.py's parser."""
    if os.path.abspath(os.getcwd()) != ROOT:
        os.chdir(ROOT)

    def interrupted(signo, frame):
        raise KeyboardInterrupt("signal %d" % signo)
    signal.signal(signal.SIGTERM, interrupted)
    md = args.output if args.output != os.path.join(ROOT, "benchmarks", "RESULTS.md") else None
    return run(quick=args.quick, keep=args.keep, output_md=md,
               output_json=args.json_output)
