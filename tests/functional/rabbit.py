"""A private RabbitMQ for the tests: Debian's rabbitmq-server, its own data
dir, node name, AMQP port, epmd port and distribution port, all on loopback."""

import os
import shutil
import signal
import socket
import subprocess
import time

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available():
    return os.path.exists(SERVER) and shutil.which("erl") is not None


class Rabbit:
    def __init__(self, directory, name=None):
        self.dir = directory
        self.port, self.dist_port, self.epmd_port = free_port(), free_port(), free_port()
        self.node = "%s@localhost" % (name or "safelaunch%d" % os.getpid())
        self.url = "rabbit://guest:guest@127.0.0.1:%d/" % self.port
        self.proc = None

    def env(self):
        d = self.dir
        for sub in ("mnesia", "log"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "rabbitmq.conf"), "w") as f:
            f.write("listeners.tcp.default = 127.0.0.1:%d\n" % self.port)
        with open(os.path.join(d, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        open(os.path.join(d, "rabbitmq-env.conf"), "w").close()
        env = dict(os.environ)
        env.update({
            "HOME": d,
            "RABBITMQ_CONF_ENV_FILE": os.path.join(d, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(d, "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(d, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": os.path.join(d, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(d, "log"),
            "RABBITMQ_PID_FILE": os.path.join(d, "rabbit.pid"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    def start(self, timeout=90):
        log = open(os.path.join(self.dir, "server.out"), "wb")
        self.proc = subprocess.Popen([SERVER], env=self.env(), stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rabbitmq-server exited %s; see %s/server.out"
                                   % (self.proc.returncode, self.dir))
            if self._amqp_ready():
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("rabbitmq-server did not accept AMQP within %ds" % timeout)

    def _amqp_ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                return s.recv(1)[:1] == b"\x01"     # connection.start frame
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # erl starts its own epmd daemon on our port: stop it too.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
