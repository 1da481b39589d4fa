"""sd_notify client against a real AF_UNIX datagram socket standing in for systemd."""

import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from safe_launch import sdnotify
from safe_launch.sdnotify import Notifier
from safe_launch.sdnotify import suppress_backend_ready


def _bind(address):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2)
    return sock


@pytest.fixture
def systemd(tmp_path):
    """(NOTIFY_SOCKET value, receiving socket) for a path socket."""
    path = str(tmp_path / "notify")
    with _bind(path) as sock:
        yield path, sock


@pytest.fixture
def abstract_systemd():
    name = "safe_launch-test-%s" % uuid.uuid4().hex
    with _bind("\0" + name) as sock:
        yield "@" + name, sock


def _recv(sock):
    return sock.recv(8192).decode()


def _nothing_pending(sock):
    sock.setblocking(False)
    try:
        sock.recv(8192)
    except BlockingIOError:
        return True
    return False


def test_ready_with_status_is_one_datagram(systemd):
    address, sock = systemd
    n = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert n.enabled
    assert n.ready("2 workers (bound by cpu), threading, audit ok")
    assert _recv(sock) == "READY=1\nSTATUS=2 workers (bound by cpu), threading, audit ok"
    assert (n.sent, n.errors) == (1, 0)


def test_abstract_socket(abstract_systemd):
    address, sock = abstract_systemd
    n = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert n.status("starting")
    assert _recv(sock) == "STATUS=starting"


def test_each_message(systemd):
    address, sock = systemd
    n = Notifier(address)
    n.stopping()
    assert _recv(sock) == "STOPPING=1"
    n.watchdog()
    assert _recv(sock) == "WATCHDOG=1"
    n.notify(extend_timeout_usec=5000000, errno=0)
    assert _recv(sock) == "EXTEND_TIMEOUT_USEC=5000000\nERRNO=0"


def test_reloading_carries_a_monotonic_timestamp(systemd):
    address, sock = systemd
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier(address).reloading("validating new configuration")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = dict(line.split("=", 1) for line in _recv(sock).splitlines())
    assert fields["RELOADING"] == "1"
    assert fields["STATUS"] == "validating new configuration"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_values_cannot_inject_lines(systemd):
    # A STATUS built from an exception message must not smuggle in READY=1.
    address, sock = systemd
    Notifier(address).status("refused: bad value\nREADY=1")
    assert _recv(sock) == "STATUS=refused: bad value READY=1"


def test_long_status_is_truncated(systemd):
    address, sock = systemd
    Notifier(address).status("x" * 10000)
    msg = _recv(sock)
    assert len(msg) == len("STATUS=") + sdnotify._MAX_VALUE and msg.endswith("...")


@pytest.mark.parametrize("environ", [{}, {"NOTIFY_SOCKET": ""}])
def test_no_op_without_notify_socket(environ):
    n = Notifier.from_env(environ)
    assert not n.enabled
    assert not n.ready("x") and not n.status("x") and not n.stopping()
    assert not n.reloading() and not n.watchdog()
    assert n.watchdog_interval() is None
    assert (n.sent, n.errors) == (0, 0)


@pytest.mark.parametrize("address", ["relative/notify", "vsock:2:1234"])
def test_unsupported_address_is_counted_not_raised(address):
    n = Notifier(address)
    assert not n.ready()
    assert n.errors == 1 and "unsupported" in n.last_error


def test_send_errors_are_counted_not_raised(tmp_path):
    n = Notifier(str(tmp_path / "nobody-listens"))
    assert not n.ready()
    assert not n.status("x")
    assert n.errors == 2 and n.sent == 0
    assert "FileNotFoundError" in n.last_error or "ConnectionRefusedError" in n.last_error


def test_unprintable_value_is_counted_not_raised(systemd):
    class Bad:
        def __str__(self):
            raise RuntimeError("no")
    n = Notifier(systemd[0])
    assert not n.status(Bad())
    assert n.errors == 1 and "RuntimeError" in n.last_error


def test_send_error_with_nul_in_path_is_counted():
    n = Notifier("/tmp/a\0b")
    assert not n.ready()
    assert n.errors == 1


@pytest.mark.parametrize("usec, pid, expected", [
    ("30000000", None, 15.0),
    ("30000000", "self", 15.0),
    ("1000", "self", 0.0005),
    ("30000000", "other", None),
    (None, None, None),
    ("0", None, None),
    ("-5", None, None),
])
def test_watchdog_interval(usec, pid, expected):
    pid = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(pid, pid)
    environ = {"NOTIFY_SOCKET": "/run/systemd/notify"}
    if usec is not None:
        environ["WATCHDOG_USEC"] = usec
    if pid is not None:
        environ["WATCHDOG_PID"] = pid
    assert Notifier.from_env(environ).watchdog_interval() == expected


def test_invalid_watchdog_values_are_counted():
    n = Notifier("/run/systemd/notify", watchdog_usec="soon")
    assert n.watchdog_interval() is None
    assert n.errors == 1


def test_watchdog_interval_is_none_in_a_forked_child():
    n = Notifier("/run/systemd/notify", "30000000", str(os.getpid()))
    assert n.watchdog_interval() == 15.0
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.write(w, b"none" if n.watchdog_interval() is None else b"set")
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 8) == b"none"
    os.close(r)


def test_suppress_backend_ready_hides_the_socket_from_the_backend(systemd, monkeypatch):
    address, sock = systemd
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    n = suppress_backend_ready(os.environ)
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        assert key not in os.environ
    # What cotyledon and oslo.service do to announce readiness: nothing now.
    from oslo_service import systemd as oslo_systemd
    oslo_systemd.notify_once()
    assert _nothing_pending(sock)
    sock.settimeout(2)
    # The launcher still holds the socket and the watchdog.
    assert n.watchdog_interval() == 10.0
    assert n.ready()
    assert _recv(sock) == "READY=1"


def test_suppress_backend_ready_unsets_for_child_processes(systemd, monkeypatch):
    # Workers and exec'd helpers inherit the C environment, not os.environ.
    address, _ = systemd
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    suppress_backend_ready()
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('NOTIFY_SOCKET', '-'))"],
        capture_output=True, text=True, check=True).stdout
    assert out.strip() == "-"


def test_suppress_backend_ready_without_systemd_is_a_no_op():
    environ = {"PATH": "/usr/bin"}
    n = suppress_backend_ready(environ)
    assert environ == {"PATH": "/usr/bin"}
    assert not n.enabled and not n.ready()
