"""Hash-chained JSON-lines audit file: the launch's system of record.

Each line is the canonical JSON (sorted keys, no spaces, ASCII) of one
record.  ``seq`` numbers the records of the file (across launches) and
``prev`` is the SHA-256 of the previous line (without its newline; 64 zeros
for the first), so an edited, deleted, inserted or reordered record breaks
the chain.  With a key, ``mac`` (HMAC-SHA256 of the canonical record without
``mac``) also exposes a rewritten tail.

A chain alone cannot show that its last records were removed, so each write
also overwrites the *anchor*, ``<file>.anchor``: one 512-byte line naming the
seq and sha256 of the last record (with the key, MAC'd too).  The anchor is
written after the record is durable, so it never names a record the file may
lose; a crash between the two leaves it one write behind (one record, or the
batch of records a launch made before its trail opened), which verification
accepts.  A file that ends before the anchor's record, or differs there, fails.
On opening, the writer compares the anchor with the file's tail and, if they
disagree (records removed between launches), ``anchor_problem`` says so and
the launcher records ``audit.anchor_mismatch``, which verification reports.

Writing: one ``os.write`` per record (or per batch) on an ``O_APPEND``
descriptor, then ``fdatasync``; a thread lock plus ``flock`` keeps the chain ordered across
threads, the master and forked workers (each re-opens the file after fork,
since ``flock`` belongs to the shared open file description).  A torn last
line (a crash or short write) is kept: the next record starts on a new line
and names it in ``recovered_fragment``.  A failed write raises (the emitter
counts it) and the next successful one is preceded by an ``audit.gap`` record.
"""

import errno
import fcntl
import functools
import hashlib
import hmac
import json
import os
import stat
import threading
import weakref

from safe_launch.errors import ExitCode
from safe_launch.errors import LaunchError
from safe_launch.events import utc_now
from safe_launch import recordtype

SCHEMA = "safe-launch-audit/1"
ANCHOR_SCHEMA = "safe-launch-audit-anchor/1"
ANCHOR_BYTES = 512                 # one sector: written whole or not at all
ANCHOR_MISMATCH = "audit.anchor_mismatch"
GENESIS = "0" * 64
MIN_KEY_BYTES = 16
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
_LOG_FLAGS = _FLAGS | os.O_APPEND     # never for the anchor: Linux pwrite() would append
_BLOCK = 65536


def canonical(record):
    """The bytes of ``record`` as one audit line (without the newline)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str).encode()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _mac(key, record):
    body = canonical({k: v for k, v in record.items() if k != "mac"})
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def key_id(key):
    """A short public name of ``key`` that reveals nothing about it."""
    return hmac.new(key, b"safe-launch-audit key id", hashlib.sha256).hexdigest()[:16]


def anchor_path(path):
    """Where the anchor of the audit file at ``path`` lives."""
    return os.fspath(path) + ".anchor"


def _anchor_bytes(seq, sha256, key):
    record = {"schema": ANCHOR_SCHEMA, "seq": seq, "sha256": sha256}
    if key:
        record["key_id"] = key_id(key)
        record["mac"] = _mac(key, record)
    return canonical(record).ljust(ANCHOR_BYTES - 1) + b"\n"


def read_anchor(data, key=None):
    """``(seq, sha256)`` named by the anchor bytes ``data``; ValueError says why not."""
    if not data:
        raise ValueError("is empty")
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    if not (isinstance(record, dict) and record.get("schema") == ANCHOR_SCHEMA
            and type(record.get("seq")) is int and record["seq"] >= 0
            and isinstance(record.get("sha256"), str) and len(record["sha256"]) == 64
            and len(data) == ANCHOR_BYTES):
        raise ValueError("is not an audit anchor")
    if key and not hmac.compare_digest(str(record.get("mac", "")), _mac(key, record)):
        raise ValueError("has %s MAC" % ("a bad" if "mac" in record else "no"))
    return record["seq"], record["sha256"]


def _parse(line):
    """The record on ``line``, or None if it is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if (isinstance(record, dict) and record.get("schema") == SCHEMA
            and type(record.get("seq")) is int):
        return record
    return None


def records(data):
    """The records in the bytes ``data`` of an audit file, in file order.

    Only what :func:`verify` would read as a record; a torn fragment or
    any other line that is not one is skipped (verification names it).
    """
    return [r for r in map(_parse, data.split(b"\n")) if r is not None]


def _tail(fd, size):
    """The file's last record line: ``(record, line, end)``.

    ``end`` is the offset just past its newline; ``(None, None, 0)`` when the
    file holds no record.
    """
    buf, base = b"", size

    def rfind_newline(before):
        nonlocal buf, base
        while True:
            found = buf.rfind(b"\n", 0, before - base)
            if found >= 0 or base == 0:
                return base + found if found >= 0 else -1
            step = min(_BLOCK, base)
            base -= step
            buf = os.pread(fd, step, base) + buf

    end = rfind_newline(size)
    while end >= 0:
        start = rfind_newline(end) + 1
        line = buf[start - base:end - base]
        record = _parse(line)
        if record is not None:
            return record, line, end + 1
        end = start - 1
    return None, None, 0


class AuditFile:
    """The audit file sink and its anchor (see the module docstring).

    ``key``: HMAC key bytes (:func:`load_key`) or None.  ``service_uid``: a
    user allowed to own the files besides root and the effective user.
    After :meth:`open`, ``anchor_problem`` says how the file's tail disagreed
    with its anchor (None when it did not), for the launcher to record.
    """

    def __init__(self, path, key=None, service_uid=None):
        self.path = os.fspath(path)
        self.anchor = anchor_path(self.path)
        self.key = key
        self.service_uid = service_uid
        self.lost = 0          # records whose write failed since the last success
        self.anchor_problem = None
        self._anchor_failed = None     # why the last anchor write failed
        self._fd = self._anchor_fd = None
        self._closed = True
        self._fork_hook = False
        self._lock = threading.Lock()

    def open(self):
        """Open (or create, 0600) file and anchor; LaunchError(CANTCREAT) if unsafe."""
        with self._lock:
            if self._fd is None:
                self._open_fds()
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                    self.anchor_problem = self._check_anchor()
                except BaseException:
                    self._close_fds()
                    raise
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._closed = False
        if not self._fork_hook:
            os.register_at_fork(after_in_child=functools.partial(_reopen, weakref.ref(self)))
            self._fork_hook = True
        return self

    def _open_fds(self):
        self._fd = _open_checked(self.path, "audit log", self.service_uid, _LOG_FLAGS)
        try:
            self._anchor_fd = _open_checked(self.anchor, "audit anchor", self.service_uid)
        except LaunchError:
            os.close(self._fd)
            self._fd = None
            raise

    def _check_anchor(self):
        """How the file's tail disagrees with the anchor, or None; anchors a new file."""
        head, line, _ = _tail(self._fd, os.fstat(self._fd).st_size)
        seq, sha = (head["seq"], _sha256(line)) if head else (0, GENESIS)
        data = os.pread(self._anchor_fd, ANCHOR_BYTES + 1, 0)
        if not data and not head:
            try:
                os.pwrite(self._anchor_fd, _anchor_bytes(0, GENESIS, self.key), 0)
                os.fdatasync(self._anchor_fd)
            except OSError as exc:
                raise LaunchError(ExitCode.CANTCREAT, "audit anchor %s cannot be written: %s"
                                  % (self.anchor, exc.strerror))
            return None
        try:
            named = read_anchor(data, self.key)
        except ValueError as exc:
            return "anchor %s %s" % (self.anchor, exc)
        # named[0] < seq: a crash before the anchor write; verify checks that record.
        return _against_anchor(named, seq, sha if named[0] == seq else None)

    def handle(self, event):
        """Append ``event`` (preceded by an ``audit.gap`` record after failures)."""
        self.handle_all([event])

    def handle_all(self, events):
        """Append ``events`` in order with one durable sync, then the anchor.

        For the records a launch made before its trail could open: one
        ``fdatasync`` for all of them instead of one each (2-3 ms at every
        launch).  The promise is unchanged: the anchor is written only once
        every record it covers is durable, and names the last of them; a crash
        before the sync may lose the batch's tail, never leave the anchor
        ahead of the file.
        """
        batch = [dict(ts=event.ts, launch_id=event.launch_id, launch_seq=event.seq,
                      event=event.event, outcome=event.outcome, summary=event.summary,
                      data=event.data) for event in events]
        if not batch:
            return
        with self._lock:
            if self._closed:
                raise ValueError("audit log %s is not open" % self.path)
            try:
                if self._fd is None:                 # re-open failed after fork
                    self._open_fds()
                fcntl.flock(self._fd, fcntl.LOCK_EX)
                try:
                    if self.lost:
                        batch.insert(0, dict(
                            ts=utc_now(), launch_id=batch[0]["launch_id"], launch_seq=None,
                            event="audit.gap", outcome="failure", data={"lost": self.lost},
                            summary="%d audit record(s) lost before this one" % self.lost))
                    self._append(batch)
                    self.lost = 0
                finally:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
            except Exception:
                self.lost += len(events)
                raise
            failed, self._anchor_failed = self._anchor_failed, None
        if failed:          # the record itself is safe: reported, not counted lost
            raise OSError("audit anchor %s not updated: %s" % (self.anchor, failed))

    def _append(self, batch):
        """Write the records of ``batch`` (field dicts), one sync, then the anchor
        naming the last."""
        fd = self._fd
        size = os.fstat(fd).st_size
        head, line, end = _tail(fd, size)
        fragment = os.pread(fd, size - end, end) if size > end else b""
        seq, prev = (head["seq"], _sha256(line)) if head else (0, GENESIS)
        lines = []
        for fields in batch:
            seq += 1
            record = dict(fields, schema=SCHEMA, seq=seq, prev=prev)
            if fragment and not lines:
                record["recovered_fragment"] = {"offset": end, "length": len(fragment),
                                                "sha256": _sha256(fragment)}
            if self.key:
                record["key_id"] = key_id(self.key)
                record["mac"] = _mac(self.key, record)
            lines.append(canonical(record))
            prev = _sha256(lines[-1])
        data = ((b"\n" if fragment and not fragment.endswith(b"\n") else b"")
                + b"".join(x + b"\n" for x in lines))
        # One write: another writer (a forked worker) holds off on flock, and
        # a short write leaves at most one torn line, which the next records.
        written = os.write(fd, data)
        if written != len(data):
            raise OSError("audit log %s: short write (%d of %d bytes)"
                          % (self.path, written, len(data)))
        os.fdatasync(fd)
        # Still under the lock, so anchors follow the records' order.
        anchor = _anchor_bytes(seq, prev, self.key)
        try:
            if os.pwrite(self._anchor_fd, anchor, 0) != len(anchor):
                self._anchor_failed = "short write"
        except OSError as exc:
            self._anchor_failed = exc.strerror

    def close(self):
        with self._lock:
            self._closed = True
            self._close_fds()

    def _close_fds(self):
        for fd in (self._fd, self._anchor_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._anchor_fd = None


def location_problem(path, service_uid):
    """Why the trail, its anchor or its key may not be at ``path`` whatever is
    there (None if it may): the rule of the open, of ``check``'s preflight and
    of the key, before any of them looks at the entry.  Relative to the working
    directory (/ under systemd, anywhere from a shell), the same setting would
    name another file; whoever can replace the directory's entries can delete
    the trail and its anchor together, or swap the key (the rule config files
    get)."""
    from safe_launch import configfiles
    if not os.path.isabs(path):
        return "is not an absolute path"
    problems = configfiles.parent_problems(path, (os.geteuid(), service_uid or 0))
    # "<path>: directory ... is writable by others ...", said after the path
    return "is refused:" + problems[0].partition(":")[2] if problems else None


def _refuse_location(path, what, service_uid):
    problem = location_problem(path, service_uid)
    if problem:
        raise LaunchError(ExitCode.CANTCREAT, "%s %s %s" % (what, path or "''", problem))


def _open_checked(path, what, service_uid, flags=_FLAGS):
    """A descriptor of ``path`` created 0600 (parent 0750), refused if unsafe (73)."""
    def refuse(why):
        raise LaunchError(ExitCode.CANTCREAT, "%s %s %s" % (what, path, why))
    _refuse_location(path, what, service_uid)
    try:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o750)
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        refuse("is a symbolic link" if os.path.islink(path)
               else "cannot be opened: %s" % exc.strerror)
    problem = entry_problem(os.fstat(fd), service_uid)
    if problem:
        os.close(fd)
        refuse(problem)
    return fd


def entry_problem(st, service_uid):
    """Why a trail or anchor entry with this (l)stat is refused; None if it is not.

    The one rule of the open and of ``check``'s preflight: a regular file
    with one link, written by nobody but its owner, owned by root, this
    process or the service account."""
    return ("is a symbolic link" if stat.S_ISLNK(st.st_mode) else
            "is not a regular file" if not stat.S_ISREG(st.st_mode) else
            "has %d hard links" % st.st_nlink if st.st_nlink != 1 else
            "is writable by group or others (mode %04o)" % stat.S_IMODE(st.st_mode)
            if st.st_mode & 0o022 else
            "is owned by uid %d" % st.st_uid
            if st.st_uid not in (0, os.geteuid(), service_uid) else None)


def preflight(path, what, service_uid):
    """What :func:`_open_checked` would refuse (LaunchError 73), without creating anything.

    For ``safe-launch check``, which writes no trail but must exit with the
    code the launch would give: the same parent rule, then the entry as it
    is (a symlink, not a regular file, hard links, mode, owner), or, when it
    does not exist yet, whether its directory could be made.
    """
    def refuse(why):
        raise LaunchError(ExitCode.CANTCREAT, "%s %s %s" % (what, path, why))
    _refuse_location(path, what, service_uid)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        ancestor = os.path.dirname(os.path.abspath(path))
        while not os.path.lexists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            refuse("cannot be opened: %s" % os.strerror(errno.ENOTDIR))
        if not os.access(ancestor, os.W_OK | os.X_OK):
            refuse("cannot be opened: %s" % os.strerror(errno.EACCES))
        return
    except OSError as exc:
        refuse("cannot be opened: %s" % exc.strerror)
    problem = entry_problem(st, service_uid)
    if problem:
        refuse(problem)


def _reopen(ref):
    """After fork: a new lock and new open file descriptions of our own.

    The parent's losses stay the parent's to report.
    """
    audit = ref()
    if audit is None or audit._closed:
        return
    audit._lock = threading.Lock()
    audit.lost = 0
    audit._close_fds()
    try:
        audit._open_fds()
    except LaunchError:
        pass                                    # handle() retries and counts the loss


class VerifyResult(recordtype.Frozen):
    ok: bool
    records: int                 # whole, valid records read before any problem
    first_bad_seq: int | None = None
    reason: str = ""
    recovered: int = 0           # torn fragments (recovered or at the tail)
    unanchored: int = 0          # valid records after the one the anchor names


def _against_anchor(named, last_seq, sha_at_named):
    """How a chain ending at ``last_seq`` disagrees with the anchor, or None.

    ``named``: the anchor's ``(seq, sha256)``; ``sha_at_named``: the sha256
    of the file's record with that seq, None when not known.
    """
    if named[0] > last_seq:
        return ("the file ends at seq %d but its anchor names seq %d: records were removed"
                % (last_seq, named[0]))
    if sha_at_named is not None and sha_at_named != named[1]:
        return "seq %d is not the record its anchor names" % named[0]
    return None


def read_file(path, limit=-1):
    """The bytes of the regular file ``path`` (at most ``limit``), for every reader
    of a trail or an anchor (``audit verify``, ``audit show``).

    Opened without blocking and refused unless a regular file (OSError
    EINVAL, "not a regular file"): a FIFO named as the trail hung the
    command, /dev/zero filled memory, and /dev/null "verified" as an empty
    trail.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return f.read(limit)


def _load_anchor(path, key):
    """``(anchor's (seq, sha256) or None, what is wrong with it or None)``."""
    try:
        return read_anchor(read_file(path, ANCHOR_BYTES + 1), key), None
    except FileNotFoundError:
        return None, "anchor %s is missing" % path
    except OSError as exc:
        return None, "anchor %s cannot be read: %s" % (path, exc.strerror)
    except ValueError as exc:
        return None, "anchor %s %s" % (path, exc)


def verify(path, key=None, anchor=True):
    """Check the audit file at ``path``: chain, MACs with ``key``, and its anchor.

    ``anchor``: True for :func:`anchor_path`, another path, or False to
    check the chain alone (which cannot show a truncated tail).
    """
    # The anchor first: a writer appends before it anchors, so a live file
    # read afterwards holds at least the record the anchor names.
    named, unusable = (_load_anchor(anchor_path(path) if anchor is True else anchor, key)
                       if anchor else (None, None))
    data = read_file(path)
    prev, seq, recovered, gap_start, pos, at_anchor = None, 0, 0, 0, 0, GENESIS
    while (newline := data.find(b"\n", pos)) >= 0:
        start, line, pos = pos, data[pos:newline], newline + 1
        record = _parse(line)
        if record is None:
            continue                          # a fragment: the next record must name it
        problem = _check(record, line, seq + 1, prev, data[gap_start:start], gap_start, key)
        if problem:
            return VerifyResult(False, seq, *problem, recovered=recovered)
        recovered += start > gap_start
        prev, seq, gap_start = line, seq + 1, pos
        if record.get("event") == ANCHOR_MISMATCH:
            return VerifyResult(False, seq - 1, seq, "seq %d reports earlier tampering: %s"
                                % (seq, record.get("summary")), recovered)
        if named and seq == named[0]:
            at_anchor = _sha256(line)
    if data[gap_start:].endswith(b"\n"):
        return VerifyResult(False, seq, seq + 1, "unparseable line after seq %d" % seq,
                            recovered)
    recovered += gap_start < len(data)
    if unusable and seq:                # a file without records needs no anchor
        return VerifyResult(False, seq, None, unusable + ": the end of the file is unchecked",
                            recovered=recovered)
    problem = named and _against_anchor(named, seq, at_anchor)
    if problem:
        bad = min(named[0], seq + 1)
        return VerifyResult(False, bad - 1, bad, problem, recovered)
    return VerifyResult(True, seq, recovered=recovered,
                        unanchored=seq - named[0] if named else 0)


def _check(record, line, expected, prev, gap, gap_offset, key):
    """``(first bad seq, reason)`` for a record that does not fit, else None."""
    if record["seq"] != expected:
        return expected, "seq %d found where %d was expected" % (record["seq"], expected)
    if canonical(record) != line:
        return expected, "seq %d is not in canonical form" % expected
    if key and not hmac.compare_digest(str(record.get("mac", "")), _mac(key, record)):
        return expected, "seq %d has %s MAC" % (expected, "a bad" if "mac" in record else "no")
    claimed = record.get("recovered_fragment")
    if gap or claimed:
        length = claimed.get("length") if isinstance(claimed, dict) else None
        if not (isinstance(length, int) and gap[length:] in (b"", b"\n")
                and claimed == {"offset": gap_offset, "length": length,
                                "sha256": _sha256(gap[:length])}):
            return expected, "unexplained bytes before seq %d" % expected
    if prev is None and record.get("prev") != GENESIS:
        return 1, "seq 1 does not start a chain"
    if prev is not None and record.get("prev") != _sha256(prev):
        return expected - 1, "seq %d was altered (or the prev of seq %d)" % (expected - 1, expected)
    return None


class KeyRefused(LaunchError):
    """The audit key file is refused (78): the message names the file and why, never
    a byte of it."""


def load_key(path):
    """The HMAC key in ``path``; KeyRefused (78) unless only its owner can access it."""
    def refuse(why):
        raise KeyRefused(ExitCode.CONFIG, "audit key file %s %s" % (path, why))
    try:
        # O_NONBLOCK: a FIFO put in its place must be refused, not waited on.
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        refuse("cannot be read: %s" % exc.strerror)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            refuse("is not a regular file")
        if st.st_mode & 0o077:
            refuse("is accessible by group or others (mode %04o)" % stat.S_IMODE(st.st_mode))
        key = f.read().strip()
    if len(key) < MIN_KEY_BYTES:
        refuse("holds fewer than %d bytes" % MIN_KEY_BYTES)
    return key
