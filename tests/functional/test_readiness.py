"""sd_notify readiness, with a datagram socket standing in for systemd."""

import os
import signal
import socket

import pytest

from tests.functional.conftest import bin_path


@pytest.fixture
def notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield path, sock
    sock.close()


def receive(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recv(4096).decode()
    except socket.timeout:
        return None


def test_ready_only_after_the_services_row_exists(make_env, launch, notify_socket):
    path, sock = notify_socket
    env = make_env()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, NOTIFY_SOCKET=path))
    messages = []
    while not any("READY=1" in m for m in messages):
        message = receive(sock, 45)
        assert message is not None, (messages, proc.output())
        if "READY=1" in message:
            # The row is written by the worker before its RPC server starts.
            assert env.services("nova-scheduler"), "READY=1 before the services row"
        messages.append(message)
    ready = [m for m in messages if "READY=1" in m]
    assert len(ready) == 1
    assert "workers" in ready[0] and "threading" in ready[0], ready
    # No second READY=1 from the backend (cotyledon's notify_once) later on;
    # STATUS= follows the other worker becoming ready.
    later = []
    while (message := receive(sock, 3)) is not None:
        later.append(message)
    assert not [m for m in later if "READY=1" in m], later
    proc.signal(signal.SIGTERM)
    while (message := receive(sock, 15)) is not None and "STOPPING=1" not in message:
        assert "READY=1" not in message, message
    assert message and "STOPPING=1" in message
    assert proc.wait(15) == 0


def test_never_ready_during_a_crash_loop(make_env, launch, notify_socket):
    path, sock = notify_socket
    env = make_env()
    env.break_cell_db()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, NOTIFY_SOCKET=path))
    assert proc.wait(60) == 75
    messages = []
    while (message := receive(sock, 1)) is not None:
        messages.append(message)
    assert not any("READY=1" in m for m in messages), messages
    assert any("STATUS=failed" in m and "crash loop" in m for m in messages), messages
