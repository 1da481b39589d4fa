"""What systemd is told while the service runs (issue 19): READY=1 after a
reload only once the restarted workers serve, and STATUS= refreshed when a
worker dies or is respawned and when an audit sink fails or recovers.

A datagram socket stands in for systemd's NOTIFY_SOCKET.
"""

import json
import os
import signal
import socket
import time

import pytest

from tests.functional.conftest import bin_path, until
from tests.functional.test_audit import fill, read_records, tiny_tmpfs
from tests.functional.test_scheduler import rpc_ping

PREFIX = "nova-scheduler-safe:"


class Systemd:
    """The notification socket; every datagram received, in order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def next(self, timeout):
        self.sock.settimeout(timeout)
        try:
            message = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        self.messages.append(message)
        return message

    def wait_for(self, predicate, timeout):
        """Receive until a datagram satisfies ``predicate``; return it (None: timed out)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.next(left)
            if message is not None and predicate(message):
                return message
        return None


def status(message):
    fields = dict(line.partition("=")[::2] for line in message.splitlines())
    return fields.get("STATUS")


@pytest.fixture
def systemd(tmp_path):
    listener = Systemd(str(tmp_path / "notify"))
    yield listener
    listener.sock.close()


def start(make_env, launch, systemd, **kw):
    env = make_env(workers=2, **kw)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, NOTIFY_SOCKET=systemd.path))
    assert systemd.wait_for(lambda m: "READY=1" in m, 60), (systemd.messages, proc.output())
    assert systemd.wait_for(lambda m: "2 serving" in (status(m) or ""), 60), systemd.messages
    return env, proc


def audit_records(env):
    with open(os.path.join(env.dir, "audit.jsonl"), "rb") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def test_ready_after_a_reload_only_once_the_restarted_workers_serve(make_env, launch, systemd,
                                                                    rabbit):
    """Before, READY=1 came about 1 s before the restarted workers served."""
    env, proc = start(make_env, launch, systemd, transport_url=rabbit.url)
    assert until(lambda: len(proc.children()) == 2, 30), proc.children()
    old = set(proc.children())
    proc.signal(signal.SIGHUP)
    assert systemd.wait_for(lambda m: "RELOADING=1" in m, 30), systemd.messages
    reloading = len(systemd.messages)
    ready = systemd.wait_for(lambda m: "READY=1" in m, 90)
    assert ready, (systemd.messages, proc.lines(PREFIX))
    # The moment systemd hears READY=1: both restarted workers have reported
    # ready (worker.started, sent after Service.start() returned: services
    # row written, RPC server consuming), and no worker of before is left.
    records = audit_records(env)
    events = [r["event"] for r in records]
    accepted = max(i for i, e in enumerate(events) if e == "reload.accepted")
    started = {r["data"]["worker_pid"] for r in records[accepted:]
               if r["event"] == "worker.started"}
    new = started - old
    assert len(new) >= 2, (records[accepted:], old)
    again = [r for r in records[accepted:] if r["event"] == "service.ready"]
    assert again and again[0]["data"].get("reload"), records[accepted:]
    assert not old & set(proc.children()), (old, proc.children())
    assert not [m for m in systemd.messages[reloading:-1] if "READY=1" in m], systemd.messages
    assert "2 serving" in status(ready), ready
    assert rpc_ping(rabbit.url) == "pong"
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_status_follows_a_worker_death_and_its_respawn(make_env, launch, systemd):
    """Before, STATUS= was refreshed only at the next READY."""
    env, proc = start(make_env, launch, systemd)
    assert until(lambda: len(proc.children()) == 2, 30), proc.children()
    victim = proc.children()[0]
    seen = len(systemd.messages)
    os.kill(victim, signal.SIGKILL)
    back = systemd.wait_for(lambda m: ("2 serving" in (status(m) or "") and
                                       "starting" not in status(m)), 60)
    assert back, (systemd.messages[seen:], proc.lines(PREFIX))
    after = [status(m) for m in systemd.messages[seen:] if status(m)]
    # one worker down, then its replacement starting, then both serving again
    down = next(i for i, s in enumerate(after) if "1 serving" in s and "starting" not in s)
    respawn = next(i for i, s in enumerate(after) if "1 serving, 1 starting" in s)
    assert down < respawn < len(after) - 1, after
    assert not [m for m in systemd.messages[seen:] if "READY=1" in m], systemd.messages[seen:]
    assert victim not in proc.children()
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_status_says_when_the_audit_file_fails_and_when_it_recovers(make_env, launch, systemd,
                                                                    tmp_path):
    """The audit disk fills up: STATUS= names the failing sink while the
    service serves on; once a record is written again, STATUS= says so."""
    with tiny_tmpfs(str(tmp_path / "audit-fs"), "64k") as mnt:
        log = os.path.join(mnt, "audit.jsonl")
        env, proc = start(make_env, launch, systemd,
                          extra="\n[safe_launch]\naudit_log = %s\n" % log)
        try:
            filler = fill(mnt)
            failing = None
            # A record may still fit in the file's last page: make events (a
            # killed worker: worker.died, worker.started) until one does not.
            for _ in range(12):
                assert until(lambda: len(proc.children()) == 2, 30), proc.children()
                os.kill(proc.children()[0], signal.SIGKILL)
                failing = systemd.wait_for(
                    lambda m: "AuditFile failing" in (status(m) or "") or
                    ("2 serving" in (status(m) or "") and "starting" not in status(m)), 60)
                assert failing, (systemd.messages, proc.output()[-3000:])
                if "AuditFile failing" in status(failing):
                    break
            assert "audit: AuditFile failing" in status(failing), systemd.messages
            # Serving on: the same STATUS= keeps the failure while workers change.
            assert systemd.wait_for(lambda m: "2 serving" in (status(m) or "") and
                                    "starting" not in status(m), 60), systemd.messages
            assert "AuditFile failing" in status(systemd.messages[-1])
            os.unlink(filler)
            os.kill(proc.children()[0], signal.SIGKILL)
            recovered = systemd.wait_for(lambda m: "recovered" in (status(m) or ""), 60)
            assert recovered, (systemd.messages, proc.output()[-3000:])
            assert "audit ok (" in status(recovered) and "failing" not in status(recovered)
            proc.signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            proc.kill()
        events = [r["event"] for r in read_records(log)]
        assert events.count("audit.gap") == 1, events
