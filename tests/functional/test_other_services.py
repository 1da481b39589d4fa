"""The other services' launchers, end to end: cinder-scheduler-safe around the
real cinder 29 (its sqlite database made by ``cinder-manage db sync``) and
nova-conductor-safe around the real nova 34, each through its console script,
on ``fake:/`` and on the private RabbitMQ."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.functional.conftest import bin_path, ready, until

CINDER = "cinder-scheduler-safe"
CONDUCTOR = "nova-conductor-safe"


def refused(env, launch, prog, argv, code, expected):
    """Launch ``prog`` on ``env`` with ``argv``: it exits ``code``, a line names
    ``expected``; the audit trail's records."""
    proc = launch([bin_path(prog), "--config-file", env.conf] + argv)
    got, lines = failure(proc, prog)
    assert got == code, proc.output()[-3000:]
    assert any(expected in line for line in lines), lines
    return records(env.dir)


def records(directory):
    with open(os.path.join(directory, "audit.jsonl"), "rb") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def verify(directory):
    result = subprocess.run([bin_path("safe-launch"), "audit", "verify",
                             os.path.join(directory, "audit.jsonl")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def failure(proc, prog, timeout=120):
    """Exit code and the launcher's failure lines of a launch that must fail."""
    code = proc.wait(timeout)
    lines = [line for line in proc.lines(prog + ":") if ": ready:" not in line]
    return code, lines


def cadf_listener(launch, rabbit, exchange):
    listener = launch([sys.executable, "-m", "tests.functional.notify_listen", rabbit.url,
                       exchange])
    assert until(lambda: listener.lines("listening"), 60), listener.output()
    return listener


def cadf_events(listener, launch_id):
    found = []
    for line in listener.output().splitlines():
        if line.startswith("{"):
            note = json.loads(line)
            if "correlation_id?value=%s" % launch_id in note["payload"].get("tags", []):
                found.append(note)
    return found


# -- cinder-scheduler-safe -------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(90)
    yield path, sock
    sock.close()


def until_ready(sock, proc):
    """The sd_notify messages up to READY=1 (test_readiness.py's way)."""
    messages = []
    while not any("READY=1" in m for m in messages):
        try:
            messages.append(sock.recv(4096).decode())
        except socket.timeout:
            pytest.fail("no READY=1: %s\n%s" % (messages, proc.output()[-3000:]))
    return messages


def test_cinder_scheduler_row_ready_stop_and_audit(make_cinder_env, launch, notify_socket):
    path, sock = notify_socket
    env = make_cinder_env()
    proc = launch([bin_path(CINDER), "--config-file", env.conf],
                  env=dict(os.environ, NOTIFY_SOCKET=path))
    messages = until_ready(sock, proc)
    # READY=1 only once start() returned: the services row exists by then.
    assert env.services("cinder-scheduler")[0][:3] == (
        "sandbox", "cinder-scheduler", "cinder-scheduler"), proc.output()
    ready_line = [m for m in messages if "READY=1" in m][0]
    assert "1 workers (as configured)" in ready_line and "eventlet" in ready_line, ready_line
    lines = proc.lines(CINDER + ":")
    assert any("workers=1 (the service has no workers option" in x for x in lines), lines
    assert any("patching: eventlet backend (default of the service)" in x for x in lines), lines
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    verify(env.dir)
    trail = records(env.dir)
    assert trail[0]["event"] == "launch.started" and trail[-1]["event"] == "service.stopped"
    assert trail[0]["data"]["binary"] == "cinder-scheduler"
    created = [r for r in trail if r["event"] == "service.created"][0]
    assert created["data"]["decision"]["binary"] == "cinder-scheduler"
    assert [r["data"]["decision"]["effective"] for r in trail
            if r["event"] == "workers.bounded"] == [1]


@pytest.mark.parametrize("argv,text,code,expected", [
    (["--confg-file", "X"], "", 64, "--confg-file"),
    ([], "\n[DEFAULT]\nservice_down_time = soon\n", 78, "[DEFAULT] service_down_time"),
    ([], "\n[coordination]\nbackend_urll = file:///tmp\n", 78,
     "[coordination] backend_urll"),
], ids=["typo-64", "bad-value-78", "unknown-key-78"])
def test_cinder_scheduler_refusals(make_cinder_env, launch, argv, text, code, expected):
    env = make_cinder_env(extra=text)
    trail = refused(env, launch, CINDER, argv, code, expected)
    assert env.services() == []
    verify(env.dir)         # a refused launch is on the record too
    assert trail[0]["data"]["binary"] == "cinder-scheduler"
    assert trail[-1]["event"] == "launch.failed" and trail[-1]["data"]["exit_code"] == code


def test_cinder_scheduler_on_an_empty_database_exits_75(make_cinder_env, launch):
    env = make_cinder_env()
    env.break_db()
    proc = launch([bin_path(CINDER), "--config-file", env.conf])
    code, lines = failure(proc, CINDER)
    assert code == 75, proc.output()[-3000:]
    assert any("no such table" in line for line in lines), lines
    assert "Traceback" not in proc.output()
    verify(env.dir)


def test_cinder_scheduler_on_rabbitmq_publishes_cadf_naming_it(make_cinder_env, launch,
                                                               rabbit):
    listener = cadf_listener(launch, rabbit, "cinder")
    env = make_cinder_env(transport_url=rabbit.url)
    proc = launch([bin_path(CINDER), "--config-file", env.conf])
    assert until(lambda: ready(proc, CINDER + ":"), 90), proc.output()[-3000:]
    assert env.services("cinder-scheduler")
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    verify(env.dir)
    launch_id = records(env.dir)[0]["launch_id"]
    assert until(lambda: any(n["event_type"] == "audit.safe_launch.service.stopped"
                             for n in cadf_events(listener, launch_id)), 30), \
        listener.output()[-3000:]
    for note in cadf_events(listener, launch_id):
        assert note["payload"]["target"]["name"] == "cinder-scheduler"
        assert note["payload"]["target"]["typeURI"] == "service/storage/block/scheduler"


# -- nova-conductor-safe ------------------------------------------------------------


def test_nova_conductor_on_rabbitmq_row_ready_stop_audit_and_cadf(
        make_env, launch, rabbit, notify_socket):
    path, sock = notify_socket
    listener = cadf_listener(launch, rabbit, "nova")
    env = make_env(transport_url=rabbit.url, extra="\n[conductor]\nworkers = 1\n")
    proc = launch([bin_path(CONDUCTOR), "--config-file", env.conf],
                  env=dict(os.environ, NOTIFY_SOCKET=path))
    until_ready(sock, proc)
    rows = env.services("nova-conductor")
    assert rows and rows[0][:3] == ("sandbox", "nova-conductor", "conductor"), proc.output()
    assert ready(proc, CONDUCTOR + ":"), proc.output()[-3000:]
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    verify(env.dir)
    trail = records(env.dir)
    assert trail[0]["data"]["binary"] == "nova-conductor"
    launch_id = trail[0]["launch_id"]
    assert until(lambda: any(n["event_type"] == "audit.safe_launch.service.ready"
                             for n in cadf_events(listener, launch_id)), 30), \
        listener.output()[-3000:]
    notes = cadf_events(listener, launch_id)
    assert notes
    for note in notes:
        assert note["payload"]["target"]["name"] == "nova-conductor"
        assert note["payload"]["target"]["typeURI"] == "service/compute/conductor"


@pytest.mark.parametrize("argv,text,code,expected", [
    (["--config-fil", "X"], "", 64, "--config-fil"),
    ([], "\n[conductor]\nworkers = many\n", 78, "[conductor] workers"),
    ([], "\n[conductor]\nworkerz = 2\n", 78, "[conductor] workerz"),
], ids=["typo-64", "bad-value-78", "unknown-key-78"])
def test_nova_conductor_refusals(make_env, launch, argv, text, code, expected):
    trail = refused(make_env(extra=text), launch, CONDUCTOR, argv, code, expected)
    assert trail[0]["data"]["binary"] == "nova-conductor"
    assert trail[-1]["data"]["exit_code"] == code


def test_nova_conductor_on_an_empty_database_is_a_crash_loop_75(make_env, launch):
    env = make_env(extra="\n[conductor]\nworkers = 2\n[safe_launch]\n"
                         "crash_loop_max_failures = 2\n")
    env.break_cell_db()
    proc = launch([bin_path(CONDUCTOR), "--config-file", env.conf])
    code, lines = failure(proc, CONDUCTOR, timeout=180)
    assert code == 75, proc.output()[-3000:]
    assert any("crash loop" in line for line in lines), lines
    verify(env.dir)
