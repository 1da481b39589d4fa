"""nova-scheduler-safe against the real nova 34 scheduler.

The foundation tests (services row, workers, SIGTERM, RPC ping, crash loop)
run on sqlite and on MariaDB, the database nova runs on in production.
"""

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.functional.conftest import bin_path, raw_tracebacks, until

PREFIX = "nova-scheduler-safe:"
BOTH = pytest.mark.parametrize("backend", ["sqlite", "mariadb"])


def effective_workers(process):
    for line in process.lines(PREFIX):
        match = re.search(r"workers=(\d+)", line)
        if match:
            return int(match.group(1))
    return None


def rpc_ping(url, topic="scheduler"):
    result = subprocess.run([sys.executable, "-m", "tests.functional.rpc", url, topic],
                            capture_output=True, text=True, timeout=60)
    return result.stdout.strip()


class Pinger:
    """One client process answering :meth:`ping` calls (no interpreter start each)."""

    def __init__(self, url, topic="scheduler"):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.functional.rpc", url, topic,
                                      "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def ping(self):
        self.proc.stdin.write("ping\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@BOTH
def test_launches_the_real_scheduler_and_stops_cleanly(make_env, launch):
    env = make_env()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    rows = until(lambda: env.services("nova-scheduler"), 30)
    assert rows, proc.output()
    host, binary, topic, first_count = rows[0]
    assert (host, binary, topic) == ("sandbox", "nova-scheduler", "scheduler")
    assert until(lambda: env.services("nova-scheduler")[0][3] > first_count, 20), \
        "report_count never increased"
    workers = effective_workers(proc)
    assert workers and workers >= 1
    assert until(lambda: len(proc.children()) == workers, 10), proc.children()
    assert any("ready:" in line for line in proc.lines(PREFIX))

    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert not raw_tracebacks(proc.output()), proc.output()


def test_ctrl_c_is_a_clean_stop(make_env, launch):
    env = make_env(workers=1)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: any("ready:" in x for x in proc.lines(PREFIX)), 30), proc.output()
    proc.signal(signal.SIGINT)
    assert proc.wait(15) == 0
    assert "stop requested (SIGINT)" in proc.output()


@BOTH
def test_answers_rpc_ping_over_rabbitmq(make_env, launch, rabbit):
    env = make_env(transport_url=rabbit.url, workers=1)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: any("ready:" in x for x in proc.lines(PREFIX)), 30), proc.output()
    assert rpc_ping(rabbit.url) == "pong"
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_registers_and_answers_like_stock_nova_scheduler(make_env, launch, rabbit):
    """Same services row, same RPC ping answer, for stock and safe."""
    seen = {}
    for name in ("nova-scheduler", "nova-scheduler-safe"):
        env = make_env(transport_url=rabbit.url, workers=1)
        proc = launch([bin_path(name), "--config-file", env.conf])
        rows = until(lambda: env.services("nova-scheduler"), 30)
        assert rows, proc.output()
        reply = until(lambda: rpc_ping(rabbit.url) == "pong" and "pong", 30, interval=1)
        seen[name] = (rows[0][:3], reply)
        proc.signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert seen["nova-scheduler"] == seen["nova-scheduler-safe"] == (
        ("sandbox", "nova-scheduler", "scheduler"), "pong")


@BOTH
def test_crash_loop_exits_75_where_stock_runs_forever(make_env, launch):
    env = make_env()
    env.break_cell_db()

    stock = launch([bin_path("nova-scheduler"), "--config-file", env.conf])
    start = time.monotonic()
    safe = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert safe.wait(60) == 75
    elapsed = time.monotonic() - start
    errors = safe.lines(PREFIX)
    missing = env.databases.missing_services_table
    assert any("crash loop" in line and missing in line for line in errors), errors
    assert not raw_tracebacks(safe.output()), safe.output()
    # Stock keeps re-forking the failing worker: still running well after.
    time.sleep(max(0, 20 - elapsed))
    assert stock.proc.poll() is None, stock.output()[-2000:]
    assert stock.output().count(missing) >= 2


def test_nova_not_installed_exits_69(tmp_path):
    code = ("import sys; sys.modules['nova'] = None\n"
            "from safe_launch.cmd.scheduler import main\nmain()")
    result = subprocess.run([sys.executable, "-c", code, "--config-file", "/dev/null"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 69, result.stderr
    assert "pip install 'safe_launch[nova]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_nova_conductor_through_safe_main_with_its_own_spec(make_env, launch):
    env = make_env(extra="\n[conductor]\nworkers = 1\n")
    # A spec written out as a third party would (doc/writing-a-spec.md), with nova's adapter.
    code = ("import sys, safe_launch\n"
            "spec = safe_launch.ServiceSpec(\n"
            "    binary='nova-conductor', adapter='safe_launch.adapters.nova', topic='conductor',\n"
            "    workers_opt='conductor.workers', backend_opt='concurrency_backend',\n"
            "    patching_env='OS_NOVA_DISABLE_EVENTLET_PATCHING',\n"
            "    namespaces=safe_launch.NOVA_CONDUCTOR.namespaces,\n"
            "    cadf_type='service/compute/conductor')\n"
            "sys.exit(safe_launch.safe_main(spec))")
    proc = launch([sys.executable, "-c", code, "--config-file", env.conf])
    rows = until(lambda: env.services("nova-conductor"), 30)
    assert rows and rows[0][:3] == ("sandbox", "nova-conductor", "conductor"), proc.output()
    assert until(lambda: any("ready:" in x for x in proc.lines("nova-conductor-safe:")), 30)
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0
