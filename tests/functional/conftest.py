"""Fixtures that run the real nova 34 against real sqlite databases and a
real RabbitMQ.  Missing nova or rabbitmq-server skips locally and fails
when SAFE_LAUNCH_REQUIRE_SERVICES=1 (CI)."""

import importlib.util
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from safe_launch import sandbox
from tests.functional.procs import child_pids
from tests.functional import rabbit as rabbitmq

BIN = os.path.dirname(sys.executable)
REQUIRE = os.environ.get("SAFE_LAUNCH_REQUIRE_SERVICES") == "1"
DBS = ("nova_api.sqlite", "nova_cell0.sqlite", "nova_cell1.sqlite")
FAST = "\n[DEFAULT]\nreport_interval = 2\n"


def need(condition, why):
    if not condition:
        (pytest.fail if REQUIRE else pytest.skip)(why)


@pytest.fixture(scope="session")
def nova_template(tmp_path_factory):
    need(importlib.util.find_spec("nova") is not None, "nova is not installed")
    directory = tmp_path_factory.mktemp("nova-template")
    sandbox.prepare(str(directory))
    return directory


class NovaEnv:
    """A copy of the prepared databases with its own nova.conf."""

    def __init__(self, template, directory, transport_url="fake:/", workers=2, extra=""):
        self.dir = str(directory)
        for db in DBS:
            shutil.copy(os.path.join(template, db), self.dir)
        # The API database maps cell1/cell0 to the template's files: repoint them.
        with sqlite3.connect(os.path.join(self.dir, "nova_api.sqlite")) as api:
            api.execute("UPDATE cell_mappings SET database_connection = "
                        "replace(database_connection, ?, ?), transport_url = ?",
                        (str(template), self.dir, transport_url))
        self.conf = sandbox.write_conf(self.dir, transport_url, workers, extra=FAST + extra)
        self.cell_db = os.path.join(self.dir, "nova_cell1.sqlite")

    def break_cell_db(self):
        """Point [database] at an empty sqlite file: workers fail in start()."""
        empty = os.path.join(self.dir, "empty.sqlite")
        open(empty, "w").close()
        with open(self.conf) as f:
            conf = f.read().replace("sqlite:///%s" % self.cell_db, "sqlite:///%s" % empty)
        with open(self.conf, "w") as f:
            f.write(conf)

    def services(self, binary=None):
        try:
            with sqlite3.connect(self.cell_db, timeout=5) as db:
                rows = db.execute("SELECT host, \"binary\", topic, report_count FROM services "
                                  "WHERE deleted = 0").fetchall()
        except sqlite3.OperationalError:
            return []
        return [r for r in rows if binary in (None, r[1])]


@pytest.fixture
def make_env(nova_template, tmp_path_factory):
    def make(**kw):
        directory = tmp_path_factory.mktemp("env")
        return NovaEnv(str(nova_template), directory, **kw)
    return make


@pytest.fixture(scope="session")
def cinder_template(tmp_path_factory):
    need(importlib.util.find_spec("cinder") is not None, "cinder is not installed")
    directory = tmp_path_factory.mktemp("cinder-template")
    sandbox.prepare_cinder(str(directory))
    return directory


class CinderEnv:
    """A copy of the database cinder-manage made, with its own cinder.conf."""

    def __init__(self, template, directory, transport_url="fake:/", extra=""):
        self.dir = str(directory)
        self.db = os.path.join(self.dir, "cinder.sqlite")
        shutil.copy(os.path.join(template, "cinder.sqlite"), self.db)
        self.conf = sandbox.write_cinder_conf(self.dir, transport_url, extra=FAST + extra)

    def break_db(self):
        """Point [database] at an empty sqlite file: the service fails in start()."""
        empty = os.path.join(self.dir, "empty.sqlite")
        open(empty, "w").close()
        with open(self.conf) as f:
            conf = f.read().replace("sqlite:///%s" % self.db, "sqlite:///%s" % empty)
        with open(self.conf, "w") as f:
            f.write(conf)

    def services(self, binary=None):
        try:
            with sqlite3.connect(self.db, timeout=5) as db:
                rows = db.execute("SELECT host, \"binary\", topic, report_count FROM services "
                                  "WHERE deleted = 0").fetchall()
        except sqlite3.OperationalError:
            return []
        return [r for r in rows if binary in (None, r[1])]


@pytest.fixture
def make_cinder_env(cinder_template, tmp_path_factory):
    def make(**kw):
        return CinderEnv(str(cinder_template), tmp_path_factory.mktemp("cinder-env"), **kw)
    return make


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory):
    need(rabbitmq.available(), "rabbitmq-server is not installed")
    server = rabbitmq.Rabbit(str(tmp_path_factory.mktemp("rabbit"))).start()
    yield server
    server.stop()


class Process:
    """A launched service: its own session, stderr captured to a file."""

    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        self.pid = self.proc.pid

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def lines(self, prefix):
        return [line for line in self.output().splitlines() if line.startswith(prefix)]

    def children(self):
        return child_pids(self.pid)

    def signal(self, signo):
        self.proc.send_signal(signo)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        else:   # cotyledon's setsid() may leave orphaned workers in our group
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


@pytest.fixture
def launch(tmp_path):
    started = []

    def start(argv, env=None):
        process = Process(argv, str(tmp_path / ("out%d.txt" % len(started))), env=env)
        started.append(process)
        return process
    yield start
    for process in started:
        process.kill()


def until(predicate, timeout, interval=0.25):
    """Poll ``predicate`` until truthy; return its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def bin_path(name):
    return os.path.join(BIN, name)


def raw_tracebacks(output):
    """Tracebacks printed raw, as an uncaught exception would be.

    nova logs some errors of its own with a traceback inside its log lines
    (two workers' report_state hitting sqlite's lock, say); those are nova's
    log output, not a launcher failure.
    """
    return [line for line in output.splitlines() if line.startswith("Traceback")]
