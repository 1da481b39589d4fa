"""The real nova 34 scheduler on a private MariaDB that the tests kill and pause.

The system MariaDB is never touched here: each test's databases are copies
on the session's private ``mariadbd``, which these tests SIGKILL (lost),
restart (back) and SIGSTOP (hung).  oslo.db's ``[database] max_retries`` and
``retry_interval`` (10 x 10 s by default) bound how long a worker tries to
reach a database that is down; ``[safe_launch] start_timeout`` bounds a start
that waits on one that hangs; ``[safe_launch] stop_timeout`` bounds a stop.
"""

import os
import secrets
import signal
import time

import pytest

from tests.functional.conftest import bin_path, raw_tracebacks, until
from tests.functional.test_readiness import notify_socket, receive  # noqa: F401

PREFIX = "nova-scheduler-safe:"
# Give up on a database that is down after about 2 x 1 s (oslo.db's
# defaults, 10 x 10 s, would take 100 s).
QUICK_RETRIES = ("\n[database]\nmax_retries = 2\nretry_interval = 1\n"
                 "[api_database]\nmax_retries = 2\nretry_interval = 1\n")


@pytest.fixture
def backend():
    return "mariadb"


def report_count(env):
    rows = env.services("nova-scheduler")
    return rows[0][3] if rows else None


def gone(pids):
    return all(not os.path.exists("/proc/%d" % pid) or
               open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z" for pid in pids)


def serving(env, proc, timeout=90):
    """Ready, and its services row reported at least once more."""
    assert until(lambda: proc.lines(PREFIX + " ready:"), timeout), proc.output()[-3000:]
    first = until(lambda: report_count(env), 30)
    assert first is not None, proc.output()[-3000:]
    assert until(lambda: (report_count(env) or 0) > first, 30), proc.output()[-3000:]


def test_a_database_down_at_start_ends_in_75_with_one_line(make_env, launch, own_mariadb):
    """Stock exits 1 with a traceback.  nova's scheduler reads the API
    database while it is created, in the master: safe gives 75 once oslo.db's
    retries there are spent, in one line naming the server, password masked."""
    nonce = secrets.token_hex(8)
    env = make_env(server=own_mariadb, workers=2, extra=QUICK_RETRIES +
                   "\n[safe_launch]\nstart_timeout = 90\nstop_timeout = 10\n")
    with open(env.conf) as f:
        conf = f.read()
    with open(env.conf, "w") as f:     # a password the launch must never show
        f.write(conf.replace("mysql+pymysql://root@", "mysql+pymysql://root:%s@" % nonce))
    own_mariadb.kill()
    start = time.monotonic()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert proc.wait(120) == 75, proc.output()[-3000:]
    elapsed = time.monotonic() - start
    lines = proc.lines(PREFIX)
    final = [x for x in lines if "Can't connect to MySQL server on '127.0.0.1'" in x]
    assert len(final) == 1 and final[0].startswith(PREFIX + " create: "), lines
    assert nonce not in proc.output()
    assert not proc.lines(PREFIX + " ready:")
    assert not raw_tracebacks(proc.output()), proc.output()[-3000:]
    assert elapsed < 60, elapsed        # oslo.db's retries, well before start_timeout
    assert until(lambda: not proc.children(), 5)


def test_a_database_lost_after_ready_and_back_later_is_recovered_from(make_env, launch,
                                                                      own_mariadb):
    env = make_env(server=own_mariadb, workers=2, extra=QUICK_RETRIES)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    serving(env, proc)
    workers = proc.children()
    before = report_count(env)
    own_mariadb.kill()
    # Several report intervals (2 s) and oslo.db retry runs without a database.
    time.sleep(15)
    assert proc.proc.poll() is None, proc.output()[-3000:]
    own_mariadb.start()
    assert until(lambda: (report_count(env) or 0) > before + 1, 60), proc.output()[-3000:]
    assert proc.proc.poll() is None
    assert proc.children() == workers, (workers, proc.children())
    lines = proc.lines(PREFIX)
    assert not [x for x in lines if "crash loop" in x or "failed to start" in x or
                "died after" in x], lines
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]


def test_sigterm_with_a_hung_database_ends_everything_within_15s(make_env, launch,
                                                                 own_mariadb):
    env = make_env(server=own_mariadb, workers=2,
                   extra="\n[safe_launch]\nstop_timeout = 10\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    serving(env, proc)
    workers = proc.children()
    assert len(workers) == 2, workers
    own_mariadb.pause()
    time.sleep(3)       # a report_state now waits on the hung server
    start = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0, proc.output()[-3000:]
    assert time.monotonic() - start < 15
    assert until(lambda: gone(workers), 2), workers
    assert not raw_tracebacks(proc.output()), proc.output()[-3000:]


def test_a_paused_database_at_start_ends_in_75_at_the_deadline_naming_it(
        make_env, launch, own_mariadb, notify_socket):  # noqa: F811
    """Stock waits forever on a hung database, without READY or STATUS=."""
    path, sock = notify_socket
    env = make_env(server=own_mariadb, workers=1,
                   extra="\n[safe_launch]\nstart_timeout = 20\nstop_timeout = 5\n")
    own_mariadb.pause()
    start = time.monotonic()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, NOTIFY_SOCKET=path))
    messages = []
    while proc.proc.poll() is None and time.monotonic() - start < 60:
        message = receive(sock, 1)
        if message:
            messages.append(message)
    assert proc.wait(5) == 75, proc.output()[-3000:]
    assert time.monotonic() - start >= 20
    while (message := receive(sock, 0.5)) is not None:
        messages.append(message)
    assert any("STATUS=starting: waiting for the database" in m for m in messages), messages
    assert not any("READY=1" in m for m in messages), messages
    lines = proc.lines(PREFIX)
    assert any("no worker became ready within 20s" in x and "the database" in x
               for x in lines), lines
    assert not raw_tracebacks(proc.output()), proc.output()[-3000:]
    assert until(lambda: not proc.children(), 5)
