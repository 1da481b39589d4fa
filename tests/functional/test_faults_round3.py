"""Infrastructure faults, round 3: outputs whose reader stopped reading.

The real nova 34 scheduler (fake:/ transport).  A NOTIFY_SOCKET whose queue
is full (a hung or SIGSTOPped service manager) and a stderr that takes no
bytes (a journal stream whose reader stopped): before the fix the launcher
blocked in sendto()/write() forever, inside the emitter's lock, and never
became ready; its deadlines hung on the same lock.  Now it serves, STATUS=
losses are counted, and SIGTERM stops it with 0.  Bounds are generous (60 s
to ready, 60 s to stop) and far below "forever".
"""

import json
import os
import signal
import socket
import subprocess

from tests.functional.conftest import bin_path, until

PREFIX = "nova-scheduler-safe:"
# Fast verdicts on unfixed code: the deadlines that would end a blocked launch.
EXTRA = "\n[safe_launch]\nstart_timeout = 40\nstop_timeout = 10\n"


def trail(env):
    path = os.path.join(env.dir, "audit.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def events_of(env):
    return [r.get("event") for r in trail(env)]


def fill(sock, send):
    sock.setblocking(False)
    try:
        while True:
            send()
    except BlockingIOError:
        pass


def test_a_notify_socket_that_never_reads_does_not_stop_the_launch(
        make_env, launch, tmp_path):
    env = make_env(workers=1, extra=EXTRA)
    path = str(tmp_path / "notify")
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.bind(path)
    writer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fill(writer, lambda: writer.sendto(b"X" * 1024, path))
    writer.close()
    try:
        proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                      env=dict(os.environ, NOTIFY_SOCKET=path))
        assert until(lambda: proc.lines(PREFIX + " ready:"), 60), proc.output()[-3000:]
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.output()[-3000:]
        assert "service.stopped" in events_of(env), events_of(env)
    finally:
        reader.close()


def test_a_stderr_that_takes_no_bytes_does_not_stop_the_launch(make_env, tmp_path):
    env = make_env(workers=1, extra=EXTRA)
    reader, writer = socket.socketpair()
    fill(writer, lambda: writer.send(b"X" * 65536))
    writer.setblocking(True)
    out = open(str(tmp_path / "stdout.txt"), "wb")
    proc = subprocess.Popen([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                            stdout=out, stderr=writer.fileno(), start_new_session=True)
    writer.close()
    try:
        assert until(lambda: "service.ready" in events_of(env), 60), events_of(env)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, events_of(env)
        assert "service.stopped" in events_of(env), events_of(env)
    finally:
        reader.close()      # a still blocked writer gets EPIPE
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()
