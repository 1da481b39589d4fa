import hashlib
import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from safe_launch import audit
from safe_launch.cmd import audit_verify
from safe_launch.errors import ExitCode
from safe_launch.errors import LaunchError
from safe_launch import events
from safe_launch import masking
from tests.unit import records

KEY = b"k" * 32
N = 5


def event(seq, launch_id="11111111-2222-3333-4444-555555555555", **data):
    return records.event(events.LAUNCH_STARTED, summary="record %d" % seq, seq=seq,
                         launch_id=launch_id, **(data or {"n": seq}))


def write(path, n=N, key=None, first=1):
    sink = audit.AuditFile(path, key=key).open()
    for seq in range(first, first + n):
        sink.handle(event(seq))
    sink.close()
    return path


def lines(path):
    return path.read_bytes().splitlines(keepends=True)


def forge(record_lines, record, key=None):
    """Append a record chained to the last line, as an attacker would."""
    record = dict(record, seq=len(record_lines) + 1,
                  prev=hashlib.sha256(record_lines[-1].rstrip(b"\n")).hexdigest())
    record.pop("mac", None)
    if key:
        record["mac"] = audit._mac(key, record)
    return record_lines + [audit.canonical(record) + b"\n"]


def check(original, data, key=None, anchor=True):
    """Verify ``data`` as a tampered copy of ``original`` against the original's anchor."""
    copy = original.parent / "tampered.jsonl"
    copy.write_bytes(b"".join(data) if isinstance(data, list) else data)
    return audit.verify(copy, key, anchor and audit.anchor_path(original))


# -- round trip ---------------------------------------------------------------


def test_round_trip_and_chain_across_launches(tmp_path):
    path = write(tmp_path / "a.jsonl", key=KEY)
    write(path, n=2, key=KEY)                       # a second launch continues the chain
    records = [json.loads(line) for line in lines(path)]
    assert [r["seq"] for r in records] == list(range(1, N + 3))
    assert records[0]["prev"] == audit.GENESIS
    assert records[5]["launch_seq"] == 1 and records[5]["seq"] == 6
    for before, line, record in zip(lines(path), lines(path)[1:], records[1:]):
        assert record["prev"] == hashlib.sha256(before.rstrip(b"\n")).hexdigest()
        assert line == audit.canonical(record) + b"\n"
    assert set(records[0]) == {"schema", "seq", "prev", "ts", "launch_id", "launch_seq",
                               "event", "outcome", "summary", "data", "key_id", "mac"}
    assert records[0]["schema"] == "safe-launch-audit/1"
    assert audit.verify(path) == audit.VerifyResult(True, N + 2)
    assert audit.verify(path, KEY) == audit.VerifyResult(True, N + 2)
    anchor = (tmp_path / "a.jsonl.anchor").read_bytes()
    assert len(anchor) == audit.ANCHOR_BYTES and anchor.endswith(b" \n")
    assert audit.read_anchor(anchor, KEY) == (
        N + 2, hashlib.sha256(lines(path)[-1].rstrip(b"\n")).hexdigest())
    assert stat.S_IMODE((tmp_path / "a.jsonl.anchor").stat().st_mode) == 0o600


def test_through_the_emitter_no_secret_reaches_the_file(tmp_path):
    path = tmp_path / "a.jsonl"
    masker = masking.Masker()
    masker.add_secret("FromConf02")
    emitter = events.Emitter([audit.AuditFile(path).open()], mask=masker)
    emitter.emit(events.LAUNCH_STARTED, outcome="pending", summary="--os-password OsPw0004",
                 argv=["nova-scheduler", "--os-password", "OsPw0005"],
                 url="rabbit://nova:Rp000003@h/", note="FromConf02")
    emitter.emit(events.SERVICE_STOPPED, summary="stopped")
    emitter.close()
    raw = path.read_bytes()
    assert not emitter.sink_failures
    for secret in (b"OsPw0004", b"OsPw0005", b"Rp000003", b"FromConf02"):
        assert secret not in raw
    assert audit.verify(path).records == 2


# -- tamper matrix --------------------------------------------------------------


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "hmac"])
@pytest.mark.parametrize("anchor", [True, False], ids=["anchored", "chain-only"])
def test_every_byte_edit_is_detected_but_in_the_last_record_without_an_anchor(
        tmp_path, key, anchor):
    path = write(tmp_path / "a.jsonl", key=key)
    original = lines(path)
    data, missed = b"".join(original), []
    offset = 0
    for seq, line in enumerate(original, 1):
        for i in range(len(line)):
            edited = bytearray(data)
            edited[offset + i] = ord("#") if data[offset + i] != ord("#") else ord("$")
            result = check(path, bytes(edited), key, anchor)
            if result.ok:
                missed.append((seq, i))
            else:
                assert result.first_bad_seq in ((seq,) if key else (seq - 1, seq))
        offset += len(line)
    if anchor:
        assert missed == []
    elif key:   # only a changed final newline, which equals truncating the last record
        assert missed == [(N, len(original[-1]) - 1)]
    else:
        assert missed and {seq for seq, _ in missed} == {N}


def test_every_bit_flip_is_detected_with_a_key_and_the_anchor(tmp_path):
    path = write(tmp_path / "a.jsonl", key=KEY)
    data, missed = path.read_bytes(), []
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            if check(path, bytes(flipped), KEY).ok:
                missed.append(i)
    assert missed == []


@pytest.mark.parametrize("k", range(1, N + 1))
def test_deleting_any_record_is_detected(tmp_path, k):
    path = write(tmp_path / "a.jsonl")
    original = lines(path)
    result = check(path, original[:k - 1] + original[k:])
    assert (result.ok, result.first_bad_seq) == (False, k)
    if k == N:      # the chain alone cannot tell (module docstring)
        assert result.reason == ("the file ends at seq 4 but its anchor names seq 5: "
                                 "records were removed")
        assert check(path, original[:k - 1], anchor=False) == audit.VerifyResult(True, N - 1)


@pytest.mark.parametrize("k", range(1, N + 1))
@pytest.mark.parametrize("inserted", ["copy", "garbage", "blank"])
def test_inserting_before_any_record_is_detected(tmp_path, k, inserted):
    path = write(tmp_path / "a.jsonl")
    original = lines(path)
    line = {"copy": original[k - 2] if k > 1 else original[1], "garbage": b"{oops}\n",
            "blank": b"\n"}[inserted]
    result = check(path, original[:k - 1] + [line] + original[k - 1:])
    assert (result.ok, result.first_bad_seq) == (False, k)


@pytest.mark.parametrize("k", range(1, N))
def test_swapping_neighbours_is_detected(tmp_path, k):
    path = write(tmp_path / "a.jsonl")
    original = lines(path)
    swapped = original[:k - 1] + [original[k], original[k - 1]] + original[k + 1:]
    result = check(path, swapped)
    assert (result.ok, result.first_bad_seq) == (False, k)


def forge_anchor(path, record_lines, key=None):
    """Re-anchor ``path`` on the last of ``record_lines``, as an attacker would."""
    last = record_lines[-1].rstrip(b"\n")
    with open(audit.anchor_path(path), "wb") as f:
        f.write(audit._anchor_bytes(json.loads(last)["seq"],
                                    hashlib.sha256(last).hexdigest(), key))


def test_rewritten_tail_needs_a_forged_anchor_and_then_only_the_key_exposes_it(tmp_path):
    path = write(tmp_path / "plain.jsonl")
    plain = lines(path)
    forged = forge(plain[:-1], json.loads(plain[-1]) | {"summary": "nothing happened"})
    result = check(path, forged)
    assert (result.ok, result.first_bad_seq) == (False, N)
    assert result.reason == "seq 5 is not the record its anchor names"
    forge_anchor(path, forged)
    assert check(path, forged).ok                               # documented limit
    assert check(path, forged[:-1]).first_bad_seq == N          # and now the anchor's

    path = write(tmp_path / "signed.jsonl", key=KEY)
    signed = lines(path)
    base = json.loads(signed[-1]) | {"summary": "nothing happened"}
    for attacker_key, reason in ((None, "no MAC"), (b"x" * 32, "a bad MAC")):
        forged = forge(signed[:-1], base, attacker_key)
        forge_anchor(path, forged, attacker_key)
        result = check(path, forged, KEY)
        assert (result.ok, result.first_bad_seq) == (False, N)
        assert reason in result.reason
        result = check(path, forged, KEY, anchor=False)
        assert (result.ok, result.first_bad_seq) == (False, N)
    forged = forge(signed[:-1], base, KEY)
    forge_anchor(path, forged, KEY)
    assert check(path, forged, KEY).ok                          # the key holder can


def test_a_non_canonical_re_encoding_is_detected(tmp_path):
    path = write(tmp_path / "a.jsonl", key=KEY)
    original = lines(path)
    same = json.dumps(json.loads(original[-1]), sort_keys=True).encode() + b"\n"
    result = check(path, original[:-1] + [same], KEY)
    assert (result.ok, result.first_bad_seq) == (False, N)
    assert result.reason == "seq 5 is not in canonical form"


def test_a_plain_file_fails_verification_with_a_key(tmp_path):
    result = audit.verify(write(tmp_path / "a.jsonl"), KEY)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 1, "seq 1 has no MAC")


# -- torn lines ---------------------------------------------------------------------


def test_a_torn_tail_is_recovered_not_bad(tmp_path):
    path = write(tmp_path / "a.jsonl", n=3)
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(b'{"schema":"safe-launch-audit/1","se')
    assert audit.verify(path) == audit.VerifyResult(True, 3, recovered=1)
    write(path, n=1, first=4)
    data = path.read_bytes()
    record = json.loads(lines(path)[-1])
    assert record["seq"] == 4
    assert record["recovered_fragment"] == {
        "offset": size, "length": 35,
        "sha256": hashlib.sha256(data[size:size + 35]).hexdigest()}
    assert data[size + 35:size + 36] == b"\n"            # the record starts on a new line
    assert audit.verify(path) == audit.VerifyResult(True, 4, recovered=1)


def test_a_torn_recovery_write_is_recovered_too(tmp_path):
    path = write(tmp_path / "a.jsonl", n=2)
    with open(path, "ab") as f:
        f.write(b"partial-1")
    with open(path, "ab") as f:
        f.write(b"\npartial-2")                 # the recovery write was torn as well
    write(path, n=1, first=3)
    assert audit.verify(path) == audit.VerifyResult(True, 3, recovered=1)


def test_unexplained_or_complete_garbage_is_bad(tmp_path):
    path = write(tmp_path / "a.jsonl")
    original = lines(path)
    result = check(path, original + [b"not a record\n"])
    assert (result.ok, result.first_bad_seq) == (False, N + 1)
    record = json.loads(original[2])
    record["recovered_fragment"] = {"offset": 0, "length": 1, "sha256": "0" * 64}
    result = check(path, original[:2] + [audit.canonical(record) + b"\n"])
    assert (result.ok, result.first_bad_seq) == (False, 3)


# -- the anchor ------------------------------------------------------------------------


def test_a_new_file_is_anchored_before_its_first_record(tmp_path):
    path = tmp_path / "a.jsonl"
    sink = audit.AuditFile(path, key=KEY).open()
    assert sink.anchor_problem is None and path.read_bytes() == b""
    assert audit.read_anchor((tmp_path / "a.jsonl.anchor").read_bytes(), KEY) == (
        0, audit.GENESIS)
    assert audit.verify(path, KEY) == audit.VerifyResult(True, 0)
    sink.close()


def test_a_crash_before_the_anchor_write_is_accepted(tmp_path):
    path = write(tmp_path / "a.jsonl", n=N - 1)
    behind = (tmp_path / "a.jsonl.anchor").read_bytes()
    write(path, n=1, first=N)
    (tmp_path / "a.jsonl.anchor").write_bytes(behind)       # as a SIGKILL would leave it
    assert audit.verify(path) == audit.VerifyResult(True, N, unanchored=1)
    sink = audit.AuditFile(path).open()                     # the writer accepts it too
    assert sink.anchor_problem is None
    sink.close()


def test_a_replayed_batch_is_one_sync_and_never_anchored_ahead_of_the_file(
        tmp_path, monkeypatch):
    """The records a launch made before its trail opened: one fdatasync for all,
    the anchor written after it; a crash at any point leaves a file that
    verifies (the anchor at most one write behind)."""
    path = tmp_path / "a.jsonl"
    write(path, n=2)
    calls = []
    real_sync, real_pwrite = os.fdatasync, os.pwrite
    monkeypatch.setattr(audit.os, "fdatasync",
                        lambda fd: (calls.append(("sync", fd)), real_sync(fd))[1])
    monkeypatch.setattr(audit.os, "pwrite",
                        lambda fd, data, off: (calls.append(("anchor", fd)),
                                               real_pwrite(fd, data, off))[1])
    sink = audit.AuditFile(path).open()
    log_fd = sink._fd
    sink.handle_all([event(seq) for seq in range(3, 3 + N)])
    sink.close()
    assert [c for c, _ in calls] == ["sync", "anchor"] and calls[0][1] == log_fd
    assert audit.verify(path) == audit.VerifyResult(True, 2 + N)
    # A crash after the sync, before the anchor write: the whole batch unanchored.
    behind = write(tmp_path / "b.jsonl", n=2)
    anchor = (tmp_path / "b.jsonl.anchor").read_bytes()
    sink = audit.AuditFile(behind).open()
    sink.handle_all([event(seq) for seq in range(3, 3 + N)])
    sink.close()
    (tmp_path / "b.jsonl.anchor").write_bytes(anchor)
    assert audit.verify(behind) == audit.VerifyResult(True, 2 + N, unanchored=N)
    # A crash before the sync may lose any tail of the batch, the anchor still behind.
    for kept in range(N + 1):
        torn = tmp_path / ("c%d.jsonl" % kept)
        torn.write_bytes(b"".join(lines(path)[:2 + kept]))
        (tmp_path / ("c%d.jsonl.anchor" % kept)).write_bytes(anchor)
        assert audit.verify(torn) == audit.VerifyResult(True, 2 + kept, unanchored=kept)


@pytest.mark.parametrize("tamper,problem", [
    (lambda p: p.write_bytes(b"".join(lines(p)[:-1])),
     "the file ends at seq 4 but its anchor names seq 5: records were removed"),
    (lambda p: p.write_bytes(b""),
     "the file ends at seq 0 but its anchor names seq 5: records were removed"),
    (lambda p: p.write_bytes(b"".join(lines(p)[:-1])
                             + lines(p)[-1].replace(b"record", b"RECORD")),
     "seq 5 is not the record its anchor names"),
    (lambda p: os.unlink(audit.anchor_path(p)), "anchor %s is empty"),
    (lambda p: open(audit.anchor_path(p), "wb").close(), "anchor %s is empty"),
    (lambda p: open(audit.anchor_path(p), "ab").write(b"x"),
     "anchor %s is not an audit anchor"),
], ids=["last-record", "emptied", "last-edited", "anchor-deleted", "anchor-emptied",
        "anchor-garbage"])
def test_the_writer_records_a_tail_that_disagrees_with_the_anchor(tmp_path, tamper, problem):
    path = write(tmp_path / "a.jsonl")
    tamper(path)
    kept = len(lines(path))
    sink = audit.AuditFile(path).open()
    assert sink.anchor_problem == problem.replace("%s", sink.anchor)
    emitter = events.Emitter([sink], launch_id="L")
    emitter.emit(audit.ANCHOR_MISMATCH, outcome="failure", summary=sink.anchor_problem)
    emitter.emit(events.LAUNCH_STARTED, summary="next launch")
    emitter.close()
    result = audit.verify(path)         # the chain and the anchor agree again, but:
    assert not result.ok
    assert (result.first_bad_seq, result.reason) == (
        kept + 1,
        "seq %d reports earlier tampering: %s" % (result.first_bad_seq, sink.anchor_problem))
    assert sink.anchor_problem in result.reason


def test_a_file_being_written_verifies(tmp_path):
    path = tmp_path / "a.jsonl"
    sink = audit.AuditFile(path).open()
    pid = os.fork()
    if pid == 0:
        try:
            os.fdatasync = lambda fd: None      # as fast as records can come
            for seq in range(1, 20001):
                sink.handle(event(seq))
        finally:
            os._exit(0)
    sink.close()
    results = []
    while not os.waitpid(pid, os.WNOHANG)[0]:
        results.append(audit.verify(path))
    assert len(results) >= 3 and all(r.ok for r in results), [r for r in results if not r.ok][:1]
    assert audit.verify(path) == audit.VerifyResult(True, 20000)


def test_an_anchor_needs_the_key_when_the_file_has_one(tmp_path):
    path = write(tmp_path / "a.jsonl", key=KEY)
    sink = audit.AuditFile(path, key=b"y" * 32).open()
    assert sink.anchor_problem == "anchor %s has a bad MAC" % sink.anchor
    sink.close()
    assert audit.verify(path, b"y" * 32).first_bad_seq == 1          # the records' MACs
    anchor = tmp_path / "a.jsonl.anchor"
    anchor.write_bytes(audit._anchor_bytes(N, json.loads(lines(path)[-1])["prev"], None))
    result = audit.verify(path, KEY)
    assert (result.ok, result.first_bad_seq) == (False, None)
    assert result.reason == "anchor %s has no MAC: the end of the file is unchecked" % anchor


def test_a_missing_anchor_fails_unless_the_file_is_empty(tmp_path):
    path = write(tmp_path / "a.jsonl")
    os.unlink(audit.anchor_path(path))
    result = audit.verify(path)
    assert (result.ok, result.first_bad_seq, result.records) == (False, None, N)
    assert result.reason == "anchor %s is missing: the end of the file is unchecked" % (
        audit.anchor_path(path))
    assert audit.verify(path, anchor=False) == audit.VerifyResult(True, N)
    path.write_bytes(b"")
    assert audit.verify(path) == audit.VerifyResult(True, 0)


def test_a_failed_anchor_write_is_reported_but_loses_no_record(tmp_path, monkeypatch):
    path = tmp_path / "a.jsonl"
    sink = audit.AuditFile(path).open()
    sink.handle(event(1))

    def eio(fd, data, offset):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(audit.os, "pwrite", eio)
    with pytest.raises(OSError, match="audit anchor .* not updated: Input/output error"):
        sink.handle(event(2))
    assert sink.lost == 0
    assert audit.verify(path) == audit.VerifyResult(True, 2, unanchored=1)
    monkeypatch.undo()
    sink.handle(event(3))
    sink.close()
    assert [json.loads(line)["event"] for line in lines(path)] == [events.LAUNCH_STARTED] * 3
    assert audit.verify(path) == audit.VerifyResult(True, 3)


def test_an_unsafe_anchor_is_refused_with_73(tmp_path):
    path = tmp_path / "a.jsonl"
    (tmp_path / "a.jsonl.anchor").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LaunchError) as info:
        audit.AuditFile(path).open()
    assert (info.value.code, info.value.message) == (
        ExitCode.CANTCREAT, "audit anchor %s.anchor is a symbolic link" % path)
    assert not (tmp_path / "elsewhere").exists()


# -- concurrency -----------------------------------------------------------------------


def test_forked_writers_make_one_valid_chain(tmp_path):
    path, writers, per_writer = tmp_path / "a.jsonl", 4, 60
    sink = audit.AuditFile(path).open()
    children = []
    for w in range(1, writers + 1):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                for i in range(per_writer):
                    sink.handle(event(i, launch_id="writer-%d" % w))
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    for i in range(per_writer):
        sink.handle(event(i, launch_id="writer-0"))
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
    sink.close()
    assert audit.verify(path) == audit.VerifyResult(True, (writers + 1) * per_writer)
    assert audit.read_anchor((tmp_path / "a.jsonl.anchor").read_bytes())[0] == (
        (writers + 1) * per_writer)
    seen = {}
    for line in lines(path):
        record = json.loads(line)
        seen.setdefault(record["launch_id"], []).append(record["launch_seq"])
    assert seen == {"writer-%d" % w: list(range(per_writer)) for w in range(writers + 1)}


def test_a_child_forked_while_a_thread_writes_does_not_deadlock(tmp_path):
    sink = audit.AuditFile(tmp_path / "a.jsonl").open()
    with sink._lock:                    # as if another thread were mid-write at fork
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                sink.handle(event(1))
                code = 0
            finally:
                os._exit(code)
    deadline = time.monotonic() + 10
    while not (status := os.waitpid(pid, os.WNOHANG))[0] and time.monotonic() < deadline:
        time.sleep(0.01)
    if not status[0]:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the child deadlocked on the parent's lock")
    assert status[1] == 0
    assert audit.verify(tmp_path / "a.jsonl").records == 1


def test_a_child_re_opens_by_path_and_counts_a_failure(tmp_path):
    path = tmp_path / "a.jsonl"
    sink = audit.AuditFile(path)
    with pytest.raises(ValueError):
        sink.handle(event(1))                   # not open yet
    sink.open()
    path.rename(tmp_path / "old.jsonl")
    path.symlink_to(tmp_path / "elsewhere")     # the child's re-open is refused
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sink.handle(event(1))
        except LaunchError as exc:
            code = 0 if (exc.code, sink.lost) == (ExitCode.CANTCREAT, 1) else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    sink.handle(event(1))                       # the parent keeps its descriptor
    sink.close()
    assert audit.verify(tmp_path / "old.jsonl", anchor=tmp_path / "a.jsonl.anchor") == (
        audit.VerifyResult(True, 1))
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("delay", [0.0, 0.003, 0.01, 0.02, 0.05])
def test_sigkill_keeps_every_acknowledged_record(tmp_path, delay):
    path = tmp_path / "a.jsonl"
    sink = audit.AuditFile(path).open()
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            for seq in itertools.count(1):
                sink.handle(event(seq, blob="x" * 2000))
                os.write(write_end, b"%d\n" % seq)
        finally:
            os._exit(1)
    os.close(write_end)
    sink.close()
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as acks:
        acked = [int(n) for n in acks.read().split()]
    result = audit.verify(path)
    assert result.ok and result.unanchored <= 1, result
    assert result.records >= (acked[-1] if acked else 0)


# -- opening -----------------------------------------------------------------------------


def test_created_0600_in_a_new_0750_directory(tmp_path):
    old = os.umask(0)
    try:
        path = write(tmp_path / "log" / "a.jsonl", n=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750


@pytest.mark.parametrize("setup,why", [
    (lambda p: p.symlink_to(p.parent / "elsewhere"), "is a symbolic link"),
    (lambda p: (p.touch(), p.chmod(0o620)), "is writable by group or others (mode 0620)"),
    (lambda p: (p.touch(0o600), os.link(p, p.parent / "hard")), "has 2 hard links"),
    (lambda p: p.mkdir(), "cannot be opened: Is a directory"),
    (lambda p: os.mkfifo(p, 0o600), "is not a regular file"),
], ids=["symlink", "group-writable", "hardlink", "directory", "fifo"])
def test_unsafe_files_are_refused_with_73(tmp_path, setup, why):
    path = tmp_path / "a.jsonl"
    setup(path)
    with pytest.raises(LaunchError) as info:
        audit.AuditFile(path).open()
    assert info.value.code == ExitCode.CANTCREAT
    assert info.value.message == "audit log %s %s" % (path, why)
    assert not (tmp_path / "elsewhere").exists()


# -- failures and gaps ------------------------------------------------------------------------

GAP_SCRIPT = textwrap.dedent("""
    import json, os, resource, sys
    from safe_launch import audit, events
    sink = audit.AuditFile(sys.argv[1]).open()
    emitter = events.Emitter([sink], launch_id="L")
    emitter.emit("launch.started", summary="one")
    size = os.path.getsize(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, hard))
    emitter.emit("service.ready", summary="two " + "x" * 300)     # short write
    emitter.emit("worker.started", summary="three")               # EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    emitter.emit("service.stopped", summary="four")
    emitter.close()
    print(json.dumps({"failures": emitter.sink_failures, "lost": sink.lost}))
""")


def test_short_writes_raise_and_a_gap_record_follows(tmp_path):
    path = tmp_path / "a.jsonl"
    proc = subprocess.run([sys.executable, "-c", GAP_SCRIPT, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"failures": {"AuditFile": 2}, "lost": 0}
    assert "event sink AuditFile failed" in proc.stderr
    records = [audit._parse(line) for line in lines(path) if audit._parse(line)]
    assert [(r["seq"], r["event"]) for r in records] == [
        (1, "launch.started"), (2, "audit.gap"), (3, "service.stopped")]
    assert records[1]["data"] == {"lost": 2} and records[1]["launch_seq"] is None
    assert records[1]["recovered_fragment"]["length"] == 100
    assert audit.verify(path) == audit.VerifyResult(True, 3, recovered=1)


def test_an_anchor_that_cannot_be_written_refuses_the_open_with_73(tmp_path):
    script = ("import resource, sys\n"
              "from safe_launch import audit\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))\n"
              "try:\n"
              "    audit.AuditFile(sys.argv[1]).open()\n"
              "except audit.LaunchError as exc:\n"
              "    print(int(exc.code), exc.message)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a.jsonl")],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout == "73 audit anchor %s.anchor cannot be written: File too large\n" % (
        tmp_path / "a.jsonl"), proc.stderr


def test_a_failed_fdatasync_counts_as_lost(tmp_path, monkeypatch):
    path = tmp_path / "a.jsonl"
    sink = audit.AuditFile(path).open()

    def eio(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(audit.os, "fdatasync", eio)
    with pytest.raises(OSError):
        sink.handle(event(1))
    monkeypatch.undo()
    sink.handle(event(2))
    sink.close()
    records = [json.loads(line) for line in lines(path)]
    assert [r["event"] for r in records] == [events.LAUNCH_STARTED, "audit.gap",
                                             events.LAUNCH_STARTED]
    assert audit.verify(path).ok
    with pytest.raises(ValueError):
        sink.handle(event(3))


# -- keys and the command ------------------------------------------------------------------------


def test_load_key(tmp_path):
    path = tmp_path / "key"
    path.write_bytes(KEY + b"\n")
    path.chmod(0o600)
    assert audit.load_key(path) == KEY
    for mode, why in ((0o640, "is accessible by group or others (mode 0640)"),
                      (0o604, "is accessible by group or others (mode 0604)")):
        path.chmod(mode)
        with pytest.raises(LaunchError) as info:
            audit.load_key(path)
        assert (info.value.code, info.value.message) == (
            ExitCode.CONFIG, "audit key file %s %s" % (path, why))
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(LaunchError, match="fewer than 16 bytes"):
        audit.load_key(path)
    (tmp_path / "link").symlink_to(path)
    with pytest.raises(LaunchError, match="cannot be read"):
        audit.load_key(tmp_path / "link")


def test_verify_command(tmp_path, capsys):
    path = write(tmp_path / "a.jsonl", key=KEY)
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)
    assert audit_verify.main([str(path), "--key-file", str(key_file)]) == 0
    assert capsys.readouterr().out == "%s: OK, %d records, MACs verified, anchored\n" % (
        path, N)
    data = lines(path)
    path.write_bytes(b"".join(data[:-1]))
    assert audit_verify.main([str(path)]) == 1
    assert capsys.readouterr().out == (
        "%s: FAILED at seq 5: the file ends at seq 4 but its anchor names seq 5: "
        "records were removed "
        "(4 records verified before it)\n" % path)
    assert audit_verify.main([str(path), "--no-anchor"]) == 0
    assert capsys.readouterr().out == "%s: OK, 4 records, tail unchecked (--no-anchor)\n" % path
    copy = tmp_path / "anchor-copy"
    copy.write_bytes(audit._anchor_bytes(3, json.loads(data[3])["prev"], None))
    assert audit_verify.main([str(path), "--anchor", str(copy)]) == 0
    assert capsys.readouterr().out == (
        "%s: OK, 4 records, 1 after the anchor's (written before a crash could update it)\n"
        % path)
    os.unlink(audit.anchor_path(path))
    assert audit_verify.main([str(path)]) == 1
    assert "FAILED: anchor %s.anchor is missing" % path in capsys.readouterr().out
    path.write_bytes(b"".join(data[:1] + data[2:]))
    assert audit_verify.main([str(path), "--no-anchor"]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "FAILED at seq 2" in out
    assert audit_verify.main([str(tmp_path / "missing")]) == os.EX_NOINPUT
    key_file.chmod(0o644)
    assert audit_verify.main([str(path), "--key-file", str(key_file)]) == ExitCode.CONFIG
    assert audit_verify.main([]) == ExitCode.USAGE
