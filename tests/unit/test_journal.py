import json
import os
import shutil
import socket
import struct
import tempfile

import pytest

from safe_launch import events
from safe_launch import journal
from tests.unit import records


@pytest.fixture
def sockdir():
    path = tempfile.mkdtemp(prefix="sl-", dir="/tmp")     # AF_UNIX paths are short
    yield path
    shutil.rmtree(path)


def server(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    return sock


def parse_native(datagram):
    """journald's native protocol, as systemd-journald decodes it."""
    fields, pos = {}, 0
    while pos < len(datagram):
        end = datagram.index(b"\n", pos)
        line = datagram[pos:end]
        if b"=" in line:
            name, _, value = line.partition(b"=")
            pos = end + 1
        else:
            name, (size,) = line, struct.unpack("<Q", datagram[end + 1:end + 9])
            value = datagram[end + 9:end + 9 + size]
            assert datagram[end + 9 + size:end + 10 + size] == b"\n"
            pos = end + 10 + size
        fields[name.decode()] = value.decode()
    return fields


def event(name=events.SERVICE_READY, outcome="success", summary="ready", **data):
    return records.event(name, outcome, summary, seq=7, **(data or {"worker_pid": 42}))


def test_native_fields(sockdir):
    path = os.path.join(sockdir, "journal")
    srv = server(path)
    sink = journal.JournalSink(journal_socket=path, syslog_socket="/nonexistent")
    assert sink.native
    sink.handle(event())
    fields = parse_native(srv.recv(65536))
    assert fields == {
        "MESSAGE": "service.ready: ready", "PRIORITY": "5", "SYSLOG_IDENTIFIER": "safe-launch",
        "SYSLOG_FACILITY": "10", "AUDIT_EVENT": "service.ready", "AUDIT_OUTCOME": "success",
        "AUDIT_LAUNCH_ID": "L-1", "AUDIT_SEQ": "7", "AUDIT_TS": "2025-01-02T03:04:05.000006Z",
        "AUDIT_DATA": '{"worker_pid": 42}'}
    sink.handle(event(events.LAUNCH_FAILED, "failure", "", exit_code=78))
    fields = parse_native(srv.recv(65536))
    assert (fields["PRIORITY"], fields["MESSAGE"]) == ("3", "launch.failed")
    sink.handle(event(events.WORKERS_BOUNDED))
    assert parse_native(srv.recv(65536))["PRIORITY"] == "6"
    sink.close()


@pytest.mark.parametrize("breaker", ["\n", "\r", "\x85", "\u2028", "\x1b[2K"])
def test_the_message_is_one_line_and_data_keeps_the_value(sockdir, breaker):
    path = os.path.join(sockdir, "journal")
    srv = server(path)
    sink = journal.JournalSink(journal_socket=path)
    sink.handle(event(summary="line one%sline=two" % breaker, text="a\nb"))
    datagram = srv.recv(65536)
    fields = parse_native(datagram)
    assert fields["MESSAGE"] == "service.ready: line one%sline=two" % events.one_line(breaker)
    assert fields["MESSAGE"].isprintable()
    assert json.loads(fields["AUDIT_DATA"]) == {"text": "a\nb"}


def test_large_data_is_cut(sockdir):
    path = os.path.join(sockdir, "journal")
    srv = server(path)
    journal.JournalSink(journal_socket=path).handle(event(blob="x" * 100000))
    data = parse_native(srv.recv(200000))["AUDIT_DATA"]
    assert len(data) == journal.MAX_DATA + len(" (cut)") and data.endswith(" (cut)")


def test_syslog_when_there_is_no_journal(sockdir):
    path = os.path.join(sockdir, "devlog")
    srv = server(path)
    sink = journal.JournalSink(journal_socket=os.path.join(sockdir, "none"), syslog_socket=path)
    assert not sink.native
    sink.handle(event(events.LAUNCH_FAILED, "failure", "parse: bad\nvalue"))
    assert srv.recv(65536).decode() == (
        "<83>safe-launch[%d]: launch.failed: parse: bad\\nvalue launch_id=L-1 seq=7 "
        "outcome=failure" % os.getpid())


def test_available(sockdir):
    none = os.path.join(sockdir, "none")
    path = os.path.join(sockdir, "sock")
    assert not journal.JournalSink.available(none, none)
    open(none, "w").close()                                # a file is not a socket
    assert not journal.JournalSink.available(none, none)
    server(path)
    assert journal.JournalSink.available(path, none)
    assert journal.JournalSink.available(none, path)


def test_a_vanished_journal_is_counted_by_the_emitter_not_fatal(sockdir, capsys):
    path = os.path.join(sockdir, "journal")
    server(path).close()
    sink = journal.JournalSink(journal_socket=path)
    os.unlink(path)
    emitter = events.Emitter([sink])
    emitter.emit(events.SERVICE_READY, summary="ready")
    emitter.emit(events.SERVICE_STOPPED, summary="stopped")
    assert emitter.sink_failures == {"JournalSink": 2}
    assert "event sink JournalSink failed" in capsys.readouterr().err
