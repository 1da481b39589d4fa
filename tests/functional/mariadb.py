"""MariaDB for the tests: the system server when it answers, else a private one.

A private server is Debian's ``mariadbd`` with its own datadir, socket, pid
file and loopback port (``mariadb-install-db`` makes the datadir, root with
no password).  Fault tests always use a private one: they kill and SIGSTOP
it, and the system server is never stopped, paused or reconfigured.

nova's databases are made once per session by nova-manage (the slow part:
about a minute of migrations), read back as a script (``SHOW CREATE TABLE``
keeps the foreign keys, plus the rows), and replayed into uniquely named
databases (``nova_api_<rand>``, ``nova_cell0_<rand>``, ``nova_cell1_<rand>``)
for each test, on whichever server the test uses.
"""

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time

from tests.functional.rabbit import free_port

SERVER = "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
SYSTEM = ("127.0.0.1", 3306)
CELLS = ("api", "cell0", "cell1")
# A test server's data is thrown away: no durability worth an fsync.
# One shared tablespace: creating and dropping nova's 250 tables per test
# takes about 1 s instead of 9.
FAST = ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
        "--innodb-log-file-size=8M", "--innodb-file-per-table=0",
        "--innodb-buffer-pool-size=64M", "--skip-log-bin"]


def available():
    return os.path.exists(SERVER) and os.path.exists(INSTALL_DB)


def connect(port, database=None, **kw):
    import pymysql          # the [nova] extra: imported only where MariaDB is used
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password="",
                           database=database, autocommit=True, connect_timeout=3,
                           read_timeout=60, write_timeout=60, **kw)


def answers(port, timeout=3):
    """True when a MariaDB on 127.0.0.1:``port`` accepts root with no password."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            pass
        connect(port).close()
        return True
    except Exception:       # refused, timed out, access denied: not ours to use
        return False


class Server:
    """A MariaDB reachable as root on 127.0.0.1:``port``."""

    private = False

    def __init__(self, port):
        self.port = port

    def url(self, database):
        return "mysql+pymysql://root@127.0.0.1:%d/%s?charset=utf8mb4" % (self.port, database)

    def execute(self, *statements, database=None):
        with connect(self.port, database) as db, db.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.fetchall()

    def run_script(self, database, script):
        """Run ``script`` (statements separated by ``;\\n``) in ``database``."""
        from pymysql.constants import CLIENT
        with connect(self.port, database, client_flag=CLIENT.MULTI_STATEMENTS) as db, \
                db.cursor() as cur:
            cur.execute(script)
            while cur.nextset():
                pass


class PrivateServer(Server):
    """``mariadbd`` of our own: start, kill, pause (SIGSTOP), resume, restart."""

    private = True

    def __init__(self, directory):
        super().__init__(free_port())
        self.dir = directory
        self.datadir = os.path.join(directory, "data")
        self.socket = os.path.join(directory, "mariadb.sock")
        self.proc = None
        self.log = None

    def install(self):
        with open(os.path.join(self.dir, "install.out"), "wb") as out:
            subprocess.run([INSTALL_DB, "--no-defaults", "--datadir=" + self.datadir,
                            "--user=" + getpass.getuser(), "--skip-test-db",
                            "--auth-root-authentication-method=normal"] + FAST,
                           stdout=out, stderr=subprocess.STDOUT, check=True, timeout=180)

    def start(self, timeout=60):
        if not os.path.isdir(os.path.join(self.datadir, "mysql")):
            self.install()
        self.log = open(os.path.join(self.dir, "server.out"), "ab")
        self.proc = subprocess.Popen(
            [SERVER, "--no-defaults", "--datadir=" + self.datadir, "--socket=" + self.socket,
             "--port=%d" % self.port, "--bind-address=127.0.0.1",
             "--pid-file=" + os.path.join(self.dir, "mariadb.pid"),
             "--user=" + getpass.getuser(), "--skip-name-resolve",
             "--log-error=" + os.path.join(self.dir, "error.log")] + FAST,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited %s; see %s/error.log"
                                   % (self.proc.returncode, self.dir))
            if answers(self.port, timeout=1):
                return self
            time.sleep(0.25)
        self.kill()
        raise RuntimeError("mariadbd did not answer within %ds; see %s/error.log"
                           % (timeout, self.dir))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        """Lose the database as a crash would: SIGKILL, no shutdown."""
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def stop(self, timeout=30):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()


def system_server():
    """The system MariaDB, when it answers (it is never reconfigured)."""
    return Server(SYSTEM[1]) if answers(SYSTEM[1]) else None


def names():
    tag = secrets.token_hex(4)
    return {cell: "nova_%s_%s" % (cell, tag) for cell in CELLS}


def dump(server, database):
    """``database`` as a script replayable into an empty database on any server."""
    import pymysql
    lines = ["SET FOREIGN_KEY_CHECKS = 0"]
    with connect(server.port, database) as db, db.cursor() as cur:
        cur.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
        tables = [row[0] for row in cur.fetchall()]
        for table in tables:
            cur.execute("SHOW CREATE TABLE `%s`" % table)
            lines.append(cur.fetchone()[1])
            cur.execute("SELECT * FROM `%s`" % table)
            for row in cur.fetchall():
                lines.append("INSERT INTO `%s` VALUES (%s)" % (
                    table, ", ".join(pymysql.converters.escape_item(v, "utf8mb4")
                                     for v in row)))
    lines.append("SET FOREIGN_KEY_CHECKS = 1")
    return ";\n".join(lines)


def create_sql(name):
    """The one way the tests create a database (nova's charset)."""
    return "CREATE DATABASE `%s` CHARACTER SET utf8mb4" % name


def drop_sql(name):
    return "DROP DATABASE IF EXISTS `%s`" % name


class Template:
    """nova's three databases, made once by nova-manage, as replayable scripts."""

    def __init__(self, server, directory, prepare):
        made = names()
        server.execute(*[create_sql(name) for name in made.values()])
        try:
            prepare(directory, {cell: server.url(name) for cell, name in made.items()})
            self.scripts = {cell: dump(server, name) for cell, name in made.items()}
        finally:
            server.execute(*[drop_sql(name) for name in made.values()])

    def create(self, server, transport_url):
        """Fresh copies on ``server``: {cell: database name}."""
        made = names()
        for cell, name in made.items():
            server.execute(create_sql(name))
            server.run_script(name, self.scripts[cell])
        # The API database maps cell0 and cell1: point the mappings at the copies.
        with connect(server.port, made["api"]) as db, db.cursor() as cur:
            for cell in ("cell0", "cell1"):
                cur.execute("UPDATE cell_mappings SET database_connection = %s WHERE name = %s",
                            (server.url(made[cell]), cell))
            cur.execute("UPDATE cell_mappings SET transport_url = %s WHERE name = 'cell1'",
                        (transport_url,))
        return made


def drop(server, databases):
    if server.private:
        if not server.running():
            return          # killed by its test: its data dies with the session
        server.resume()
    server.execute(*[drop_sql(name) for name in databases])
