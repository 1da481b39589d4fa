"""Fixtures that run the real nova 34 against real databases (sqlite files,
or MariaDB: see mariadb.py) and a real RabbitMQ.  Missing nova,
rabbitmq-server or MariaDB skips locally and fails when
SAFE_LAUNCH_REQUIRE_SERVICES=1 (CI)."""

import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from safe_launch import sandbox
from tests.functional import mariadb as mysql
from tests.functional.procs import child_pids
from tests.functional import rabbit as rabbitmq

BIN = os.path.dirname(sys.executable)
REQUIRE = os.environ.get("SAFE_LAUNCH_REQUIRE_SERVICES") == "1"
# CI and the test machines run as root, which the launcher refuses (exit 78)
# unless allowed: every launched process inherits this; the tests of that
# refusal (test_hygiene.py) remove it.  The sandbox's nova.conf says it too.
os.environ["OS_SAFE_LAUNCH__ALLOW_ROOT"] = "true"
DBS = ("nova_api.sqlite", "nova_cell0.sqlite", "nova_cell1.sqlite")
FAST = "\n[DEFAULT]\nreport_interval = 2\n"


def need(condition, why):
    if not condition:
        (pytest.fail if REQUIRE else pytest.skip)(why)


def template(tmp_path_factory, package, prepare):
    """A directory ``prepare`` fills once per session (databases, config) for
    ``package``'s services; skipped (or failed) without the package."""
    need(importlib.util.find_spec(package) is not None, "%s is not installed" % package)
    directory = tmp_path_factory.mktemp(package + "-template")
    prepare(str(directory))
    return directory


@pytest.fixture(scope="session")
def nova_template(tmp_path_factory):
    return template(tmp_path_factory, "nova", sandbox.prepare)


class SqliteDatabases:
    """Copies of the template's sqlite files in the env's directory."""

    backend = "sqlite"

    def __init__(self, template, directory, transport_url):
        self.dir = directory
        for db in DBS:
            shutil.copy(os.path.join(template, db), directory)
        # The API database maps cell1/cell0 to the template's files: repoint them.
        with sqlite3.connect(os.path.join(directory, "nova_api.sqlite")) as api:
            api.execute("UPDATE cell_mappings SET database_connection = "
                        "replace(database_connection, ?, ?), transport_url = ?",
                        (str(template), directory, transport_url))
        self.urls = sandbox.sqlite_databases(directory)
        self.cell_db = os.path.join(directory, "nova_cell1.sqlite")
        self.missing_services_table = "no such table: services"

    def empty(self):
        empty = os.path.join(self.dir, "empty.sqlite")
        open(empty, "w").close()
        return "sqlite:///%s" % empty

    def services(self):
        try:
            with sqlite3.connect(self.cell_db, timeout=5) as db:
                return db.execute(SERVICES).fetchall()
        except sqlite3.OperationalError:
            return []

    def drop(self):
        pass


class MariaDatabases:
    """Uniquely named copies of the template's databases on ``server``."""

    backend = "mariadb"

    def __init__(self, server, template, transport_url):
        self.server = server
        self.names = template.create(server, transport_url)
        self.urls = {cell: server.url(name) for cell, name in self.names.items()}
        self.missing_services_table = "Table '%s.services' doesn't exist" % (
            self.names["cell1"] + "_empty")

    def empty(self):
        name = self.names["cell1"] + "_empty"
        self.server.execute(mysql.create_sql(name))
        self.names["empty"] = name
        return self.server.url(name)

    def services(self):
        try:
            return [tuple(row) for row in self.server.execute(
                SERVICES, database=self.names["cell1"])]
        except Exception:       # the server is down or paused: no rows seen
            return []

    def drop(self):
        mysql.drop(self.server, self.names.values())


class MariaTemplate:
    """The session's nova databases on MariaDB, to copy onto a server."""

    def __init__(self, server, template):
        self.server, self.template = server, template

    def databases(self, transport_url, server=None):
        return MariaDatabases(server or self.server, self.template, transport_url)


# Backquotes: MariaDB's quoting of the reserved word, which sqlite accepts too.
SERVICES = "SELECT host, `binary`, topic, report_count FROM services WHERE deleted = 0"


class NovaEnv:
    """Copies of the prepared databases with its own nova.conf.

    ``template``: the sqlite template's directory, or a :class:`MariaTemplate`
    (``server`` then picks the MariaDB the copies go on).
    """

    def __init__(self, template, directory, transport_url="fake:/", workers=2, extra="",
                 server=None):
        self.dir = str(directory)
        if isinstance(template, MariaTemplate):
            self.databases = template.databases(transport_url, server)
        else:
            self.databases = SqliteDatabases(str(template), self.dir, transport_url)
        self.backend = self.databases.backend
        self.conf = sandbox.write_conf(self.dir, transport_url, workers, extra=FAST + extra,
                                       databases=self.databases.urls)
        self.cell_db = getattr(self.databases, "cell_db", None)

    def break_cell_db(self):
        """Point [database] at an empty database: workers fail in start()."""
        cell = "connection = %s\n" % self.databases.urls["cell1"]
        with open(self.conf) as f:
            conf = f.read()
        assert cell in conf
        with open(self.conf, "w") as f:
            f.write(conf.replace(cell, "connection = %s\n" % self.databases.empty()))

    def services(self, binary=None):
        return [r for r in self.databases.services() if binary in (None, r[1])]


@pytest.fixture
def backend():
    """The database nova runs on: sqlite unless a test parametrizes it."""
    return "sqlite"


@pytest.fixture
def make_env(backend, nova_template, tmp_path_factory, request):
    template = str(nova_template)
    if backend == "mariadb":
        template = request.getfixturevalue("mariadb_template")
    made = []

    def make(**kw):
        directory = tmp_path_factory.mktemp("env")
        made.append(NovaEnv(template, directory, **kw))
        return made[-1]
    yield make
    for env in made:
        env.databases.drop()


def need_pymysql():
    need(importlib.util.find_spec("pymysql") is not None,
         "PyMySQL is not installed (pip install 'safe_launch[nova]')")


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory):
    """The system MariaDB when it answers (never stopped or reconfigured),
    else a private one for the session."""
    need_pymysql()
    server = mysql.system_server()
    if server is None:
        need(mysql.available(), "MariaDB does not answer on 127.0.0.1:3306 and "
                                "mariadb-server is not installed")
        server = mysql.PrivateServer(str(tmp_path_factory.mktemp("mariadb"))).start()
    yield server
    if server.private:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_template(mariadb_server, nova_template, tmp_path_factory):
    """nova's databases made once by nova-manage on MariaDB, to copy per test."""
    directory = str(tmp_path_factory.mktemp("nova-mariadb-template"))
    template = mysql.Template(mariadb_server, directory,
                              lambda d, databases: sandbox.prepare(d, databases=databases))
    return MariaTemplate(mariadb_server, template)


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory):
    """A MariaDB of the tests' own, for the tests that kill and pause it."""
    need_pymysql()
    need(mysql.available(), "mariadb-server is not installed")
    server = mysql.PrivateServer(str(tmp_path_factory.mktemp("private-mariadb"))).start()
    yield server
    server.stop()


@pytest.fixture
def own_mariadb(private_mariadb):
    """The private MariaDB, running and not paused, before and after the test."""
    def running():
        private_mariadb.resume()
        if not private_mariadb.running():
            private_mariadb.start()
    running()
    yield private_mariadb
    running()


@pytest.fixture(scope="session")
def cinder_template(tmp_path_factory):
    return template(tmp_path_factory, "cinder", sandbox.prepare_cinder)


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

    def __init__(self, argv, log_path, env=None, pass_fds=()):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True, pass_fds=pass_fds)
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

    def start(argv, env=None, pass_fds=()):
        process = Process(argv, str(tmp_path / ("out%d.txt" % len(started))), env=env,
                          pass_fds=pass_fds)
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


def read_records(path):
    """The records of an audit file, without torn fragments (verify checks those)."""
    records = []
    with open(path, "rb") as f:
        for line in f.read().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def ready(proc, prefix="nova-scheduler-safe:"):
    """Whether the launcher (its lines start with ``prefix``) has said ``ready:``."""
    return any("ready:" in line for line in proc.lines(prefix))


def raw_tracebacks(output):
    """Tracebacks printed raw, as an uncaught exception would be.

    nova logs some errors of its own with a traceback inside its log lines
    (two workers' report_state hitting sqlite's lock, say); those are nova's
    log output, not a launcher failure.
    """
    return [line for line in output.splitlines() if line.startswith("Traceback")]


def unisolated(name, module):
    """argv running ``module``'s main() as ``name`` in a plain, not isolated, interpreter.

    For the tests that instrument a launch with a sitecustomize.py on
    PYTHONPATH, which the console scripts' isolated interpreter never runs;
    the launch must also allow PYTHONPATH by name (:data:`ALLOW_PYTHONPATH`).
    """
    return [sys.executable, "-c", "import sys; sys.argv[0] = %r; from %s import main; main()"
            % (bin_path(name), module)]


ALLOW_PYTHONPATH = {"OS_SAFE_LAUNCH__ALLOWED_ENVIRONMENT": "PYTHONPATH"}
