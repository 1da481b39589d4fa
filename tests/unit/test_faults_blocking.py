"""Outputs whose reader stopped reading never block the launcher (round 3).

A datagram socket with a full queue (NOTIFY_SOCKET of a hung service
manager) and a stream (stderr on a journal stream, a pipe or a terminal)
that takes no bytes: before, sdnotify's sendto() and the console's write()
blocked forever, holding the emitter's lock, so even the start and stop
deadlines never reached their exit.  Real sockets and pipes.
"""

import os
import socket
import threading
import time

from safe_launch import events
from safe_launch import sdnotify

# Far above what the bounded calls take (0 s and 1 s), far below "forever":
# a call still running after this is blocked.
GENEROUS = 20


def full_datagram_socket(path):
    """A bound datagram socket nobody reads, its queue filled up."""
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.bind(path)
    writer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    writer.setblocking(False)
    try:
        while True:
            writer.sendto(b"X" * 1024, path)
    except BlockingIOError:
        pass
    writer.close()
    return reader


def full_stream():
    """A connected stream socket pair; the write end's buffer is full."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        while True:
            writer.send(b"X" * 65536)
    except BlockingIOError:
        pass
    writer.setblocking(True)
    return reader, writer


def close_all(reader, *others):
    """The reader first: a writer still blocked (unfixed code) then gets EPIPE."""
    reader.close()
    for other in others:
        try:
            other.close()
        except OSError:
            pass


def finishes(call):
    """Run ``call`` in a thread; its result, or "blocked" after GENEROUS s."""
    result = ["blocked"]
    thread = threading.Thread(target=lambda: result.__setitem__(0, call()), daemon=True)
    thread.start()
    thread.join(GENEROUS)
    return result[0]


def test_notify_to_a_full_socket_is_dropped_and_counted(tmp_path):
    path = str(tmp_path / "notify")
    reader = full_datagram_socket(path)
    try:
        notifier = sdnotify.Notifier(path)
        assert finishes(lambda: notifier.status("starting")) is False
        assert notifier.errors == 1 and "BlockingIOError" in notifier.last_error
        reader.recv(65536)          # room for one again: the next one goes out
        assert notifier.ready("serving") is True
    finally:
        reader.close()


def test_notify_to_a_missing_or_abstract_socket_never_raises(tmp_path):
    assert sdnotify.Notifier(str(tmp_path / "absent")).status("x") is False
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind("\0safe-launch-test-%d" % os.getpid())
    try:
        assert sdnotify.Notifier("@safe-launch-test-%d" % os.getpid()).ready() is True
        assert abstract.recv(100) == b"READY=1"
    finally:
        abstract.close()


def test_console_write_to_a_stream_that_takes_nothing_fails_in_bounded_time():
    reader, writer = full_stream()
    stream = os.fdopen(os.dup(writer.fileno()), "w")
    try:
        started = time.monotonic()
        assert finishes(lambda: events.ConsoleSink.write_line(stream, "x: line\n")) is False
        # stalled: the next line does not wait at all
        assert finishes(lambda: events.ConsoleSink.write_line(stream, "x: again\n")) is False
        assert time.monotonic() - started < GENEROUS
        # the reader drains: lines go out again
        reader.setblocking(False)
        try:
            while reader.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
        assert events.ConsoleSink.write_line(stream, "x: back\n") is True
    finally:
        close_all(reader, stream, writer)


def test_emitter_with_a_stuck_console_counts_and_goes_on():
    reader, writer = full_stream()
    stream = os.fdopen(os.dup(writer.fileno()), "w")
    try:
        emitter = events.Emitter([events.ConsoleSink("prog", stream=stream)])
        assert finishes(lambda: [emitter.emit("x.y", summary="s%d" % i) for i in range(5)]
                        ) != "blocked"
        assert emitter.sink_failures == {"ConsoleSink": 5}
        assert emitter.failing == {"ConsoleSink"}
    finally:
        close_all(reader, stream, writer)


def test_console_write_to_a_pipe_whose_reader_exited_fails():
    r, w = os.pipe()
    os.close(r)
    stream = os.fdopen(w, "w")
    try:
        assert events.ConsoleSink.write_line(stream, "x: line\n") is False
    finally:
        try:
            stream.close()
        except OSError:
            pass
