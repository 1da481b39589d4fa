"""File policy: real files, FIFOs, symlinks and modes in a temporary directory."""

import dataclasses
import hashlib
import os
import pathlib
import secrets
import threading
import time

from oslo_config import cfg
from oslo_log import log
import pytest

from safe_launch import argv
from safe_launch import configfiles
from safe_launch.spec import NOVA_SCHEDULER

ME = (os.getuid(),)
ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="chown to another user needs root")


def write(path, text="[DEFAULT]\ndebug = true\n", mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def check(path, kind="config-file", **kw):
    kw.setdefault("trusted_uids", ME)
    return configfiles.check_file(str(path), kind, **kw)


def within(seconds, func, *args, **kw):
    """func(*args) run in a thread that must finish within ``seconds``."""
    result = []

    def run():
        try:
            result.append((func(*args, **kw), None))
        except Exception as exc:
            result.append((None, exc))

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung for %ss" % seconds
    value, exc = result[0]
    if exc is not None:
        raise exc
    return value, time.monotonic() - start


def test_a_private_file_passes_and_its_sha256_is_recorded(tmp_path):
    path = write(tmp_path / "nova.conf")
    rec = check(path)
    assert rec.ok, rec.problems
    st = os.stat(path)
    assert rec.sha256 == hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    assert (rec.realpath, rec.size, rec.inode, rec.device, rec.uid) == (
        path, st.st_size, st.st_ino, st.st_dev, st.st_uid)


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "nova.conf"
    os.mkfifo(fifo)
    rec, took = within(5, check, fifo)
    assert rec.problems == ("%s: is a FIFO, not a regular file" % fifo,)
    assert took < 1


def test_a_fifo_swapped_in_after_the_check_is_detected_without_hanging(tmp_path):
    path = write(tmp_path / "nova.conf")
    rec = check(path)
    os.unlink(path)
    os.mkfifo(path)
    problems, _ = within(5, configfiles.verify_unchanged, [rec])
    assert problems == ("%s: is now a FIFO" % path,)
    with pytest.raises(ValueError):
        within(5, configfiles.read_sections, path)[0]


@pytest.mark.parametrize("target, kind, message", [
    ("dir", "config-file", "is a directory, not a regular file"),
    ("file", "config-dir", "is a regular file, not a directory"),
    ("/dev/null", "config-file", "is a character device, not a regular file"),
    ("/proc/self/status", "config-file", "is on a pseudo file system"),
    ("missing", "config-file", "cannot be read: No such file or directory"),
])
def test_file_types(tmp_path, target, kind, message):
    (tmp_path / "dir").mkdir()
    write(tmp_path / "file")
    path = target if target.startswith("/") else str(tmp_path / target)
    rec = check(path, kind)
    assert len(rec.problems) == 1 and message in rec.problems[0]


def test_a_config_dir_is_checked_like_a_file_and_its_listing_hashed(tmp_path):
    d = tmp_path / "nova.conf.d"
    d.mkdir(mode=0o755)
    rec = check(d, "config-dir")
    assert rec.ok and rec.sha256 == hashlib.sha256(b"").hexdigest()
    write(d / "late.conf")
    assert "changed while it was loaded" in configfiles.verify_unchanged([rec])[0]
    d.chmod(0o777)
    assert any("writable by group or others" in p for p in check(d, "config-dir").problems)


@pytest.mark.parametrize("content, message", [
    (b"[DEFAULT]\x00\n", "binary content"),
    (b"[DEFAULT]\nx = \xff\xfe\n", "not UTF-8 text"),
])
def test_binary_content_is_refused(tmp_path, content, message):
    path = tmp_path / "nova.conf"
    path.write_bytes(content)
    path.chmod(0o600)
    assert message in check(path).problems[0]


def test_size_cap(tmp_path):
    path = write(tmp_path / "big.conf")
    os.truncate(path, configfiles.MAX_SIZE + 1)
    rec = check(path)
    assert "more than the limit" in rec.problems[0] and rec.sha256 is None


@pytest.mark.parametrize("mode, message", [
    (0o666, "writable by group or others (mode 0666)"),
    (0o620, "writable by group or others (mode 0620)"),
])
def test_writable_by_group_or_others_is_refused(tmp_path, mode, message):
    rec = check(write(tmp_path / "nova.conf", mode=mode))
    assert len(rec.problems) == 1 and message in rec.problems[0]


def test_policy_off_keeps_only_type_checks(tmp_path):
    path = write(tmp_path / "nova.conf", mode=0o666)
    assert check(path, policy="off", trusted_uids=()).ok
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert not check(fifo, policy="off").ok


def test_an_untrusted_owner_is_refused(tmp_path):
    path = write(tmp_path / "nova.conf")
    if ROOT:
        os.chown(path, 65534, 65534)
    rec = configfiles.check_file(path, "config-file", trusted_uids=() if not ROOT else (1,))
    assert any("not by root or the service user" in p for p in rec.problems)


def test_a_private_key_readable_by_others_is_refused(tmp_path):
    path = write(tmp_path / "key.pem", "-----BEGIN PRIVATE KEY-----\n", mode=0o644)
    assert check(path, "tls-cert").ok
    assert "private key readable by others" in check(path, "tls-key").problems[0]


def test_symlinks_must_stay_inside_the_allowed_directories(tmp_path):
    inside, outside = tmp_path / "etc", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    target = write(outside / "real.conf")
    os.symlink(target, inside / "nova.conf")
    rec = check(inside / "nova.conf", allowed_dirs=[str(inside)])
    assert rec.realpath == target
    assert len(rec.problems) == 1 and "outside the allowed directories" in rec.problems[0]
    assert check(inside / "nova.conf", allowed_dirs=[str(inside), str(outside)]).ok
    write(inside / "plain.conf")
    os.symlink("plain.conf", inside / "rel.conf")
    assert check(inside / "rel.conf", allowed_dirs=[str(inside)]).ok


def test_symlinks_resolve_as_the_kernel_resolves_them(tmp_path):
    (tmp_path / "etc" / "sub").mkdir(parents=True)
    target = write(tmp_path / "etc" / "plain.conf")
    os.symlink("sub/..", tmp_path / "etc" / "up")
    os.symlink(".././up/plain.conf", tmp_path / "etc" / "sub" / "link.conf")
    os.symlink("loop", tmp_path / "loop")
    rec = check(tmp_path / "etc" / "sub" / "link.conf", allowed_dirs=[str(tmp_path)])
    assert rec.ok and rec.realpath == os.path.realpath(rec.path) == target
    assert "Too many levels of symbolic links" in check(tmp_path / "loop").problems[0]


def test_a_symlink_through_a_world_writable_directory_is_refused(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    public.chmod(0o777)
    target = write(tmp_path / "real.conf")
    os.symlink(target, public / "hop")
    os.symlink(public / "hop", tmp_path / "nova.conf")
    rec = check(tmp_path / "nova.conf", allowed_dirs=[str(tmp_path)])
    assert rec.realpath == target
    assert len(rec.problems) == 1
    assert "directory %s is writable by others" % public in rec.problems[0]


def test_a_parent_writable_by_others_is_refused_unless_sticky_and_trusted(tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    path = write(d / "nova.conf")
    d.chmod(0o777)
    assert "anyone can replace" in check(path).problems[0]
    d.chmod(0o1777)        # sticky: only the entry's owner (or d's, or root) can replace it
    assert check(path).ok
    if not ROOT:        # as root, see the next test
        assert any("sticky" in p for p in check(path, trusted_uids=()).problems)


@needs_root
def test_a_sticky_parent_does_not_protect_an_untrusted_entry(tmp_path):
    d = tmp_path / "conf"
    d.mkdir(mode=0o1777)
    d.chmod(0o1777)
    path = write(d / "nova.conf")
    os.chown(path, 65534, 65534)
    rec = configfiles.check_file(path, "config-file", trusted_uids=(0,))
    assert any("sticky" in p for p in rec.problems)


@needs_root
def test_strict_policy_is_root_service_group_0640(tmp_path):
    path = write(tmp_path / "nova.conf", mode=0o640)
    os.chown(path, 0, 4242)
    assert check(path, policy="strict", trusted_gid=4242).ok
    assert "strict policy: must be owned by root:0" in check(path, policy="strict").problems[0]
    os.chmod(path, 0o644)
    assert check(path, policy="strict", trusted_gid=4242).problems == (
        "%s: strict policy: mode 0644 is wider than 0640" % path,)
    os.chmod(path, 0o600)
    assert check(path, policy="default").ok


def test_strict_policy_refuses_a_file_not_owned_by_root(tmp_path):
    path = write(tmp_path / "nova.conf", mode=0o640)
    if ROOT:
        os.chown(path, 65534, 0)
    rec = configfiles.check_file(path, "config-file", "strict", trusted_uids=(65534,) + ME)
    assert any("strict policy: must be owned by root" in p for p in rec.problems)


def test_verify_unchanged_detects_edits_and_replacements(tmp_path):
    path = write(tmp_path / "nova.conf")
    rec = check(path)
    assert configfiles.verify_unchanged([rec]) == ()
    with open(path, "a") as f:
        f.write("x = 1\n")
    assert "changed while it was loaded" in configfiles.verify_unchanged([rec])[0]
    rec = check(path)
    os.rename(write(tmp_path / "new.conf", pathlib.Path(path).read_text()), path)
    assert "replaced by another file" in configfiles.verify_unchanged([rec])[0]
    rec = check(path)
    os.unlink(path)
    assert "cannot be re-read" in configfiles.verify_unchanged([rec])[0]


def test_verify_unchanged_detects_a_repointed_symlink(tmp_path):
    a, b = write(tmp_path / "a.conf"), write(tmp_path / "b.conf")
    os.symlink(a, tmp_path / "nova.conf")
    rec = check(tmp_path / "nova.conf", allowed_dirs=[str(tmp_path)])
    os.unlink(tmp_path / "nova.conf")
    os.symlink(b, tmp_path / "nova.conf")
    assert "now leads to %s" % b in configfiles.verify_unchanged([rec])[0]


# -- files_to_check ---------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("SNAP", "SNAP_COMMON"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def guard(*args):
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    decision = argv.guard(list(args), argv.cli_opts_of(conf))
    assert decision.ok, decision.problems
    return decision


def test_default_files_are_those_oslo_config_finds(home):
    (home / ".nova").mkdir()
    write(home / ".nova" / "nova.conf")
    write(home / "nova-scheduler.conf")
    (home / "nova-scheduler.conf.d").mkdir()
    write(home / "nova-scheduler.conf.d" / "b.conf")
    write(home / "nova-scheduler.conf.d" / "a.conf")
    write(home / "nova-scheduler.conf.d" / "ignored.txt")
    items = configfiles.files_to_check(guard(), "nova", "nova-scheduler", os.environ)
    d = str(home / "nova-scheduler.conf.d")
    assert [p for p, k in items if k == "default-config-file"] == cfg.find_config_files(
        "nova", "nova-scheduler")
    assert [p for p, k in items if k == "default-config-dir"] == cfg.find_config_dirs(
        "nova", "nova-scheduler") == [d]
    assert items[-2:] == [(d + "/a.conf", "config-dir-file"), (d + "/b.conf", "config-dir-file")]


def test_given_files_replace_the_defaults_in_argv_order(home, tmp_path):
    write(home / "nova-scheduler.conf")
    (tmp_path / "d").mkdir()
    write(tmp_path / "d" / "z.conf")
    decision = guard("--config-file", "~/x.conf", "--config-dir", str(tmp_path / "d"),
                     "--config-file", "rel.conf")
    items = configfiles.files_to_check(decision, "nova", "nova-scheduler", os.environ)
    assert items == [(str(home / "x.conf"), "config-file"),
                     (str(tmp_path / "d"), "config-dir"),
                     (str(tmp_path / "d" / "z.conf"), "config-dir-file"),
                     (os.path.abspath("rel.conf"), "config-file")]


def test_allowed_dirs_are_the_defaults_and_the_named_directories(home, tmp_path):
    decision = guard("--config-file", str(tmp_path / "a" / "x.conf"), "--config-dir", "~/d")
    assert configfiles.allowed_dirs(decision, os.environ, ("/etc/nova",)) == (
        "/etc/nova", "/etc/safe_launch", str(tmp_path / "a"), str(home / "d"))


def _parsed(tmp_path, text):
    path = write(tmp_path / "nova.conf", text)
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    decision = guard("--config-file", path)
    conf(list(decision.argv), default_config_files=[], default_config_dirs=[])
    return decision, conf


def test_after_the_parse_log_config_policy_and_tls_files_are_listed(home, tmp_path):
    logging_conf = write(tmp_path / "logging.conf", "[loggers]\nkeys = root\n", mode=0o666)
    key = write(tmp_path / "rabbit.key", "key\n")
    write(tmp_path / "policy.yaml", "{}\n")
    (tmp_path / "policy.d").mkdir()
    write(tmp_path / "policy.d" / "10.yaml", "{}\n")
    write(tmp_path / "policy.d" / ".hidden", "{}\n")
    decision, conf = _parsed(tmp_path, "[DEFAULT]\nlog_config_append = %s\n"
                             "[oslo_messaging_rabbit]\nssl_key_file = %s\n"
                             "ssl_ca_file = /nonexistent/ca.pem\n" % (logging_conf, key))
    items = configfiles.files_to_check(decision, "nova", "nova-scheduler", os.environ, conf)
    assert items == [
        (logging_conf, "log-config"), (key, "tls-key"),
        (str(tmp_path / "policy.yaml"), "policy-file"),
        (str(tmp_path / "policy.d"), "policy-dir"),
        (str(tmp_path / "policy.d" / "10.yaml"), "policy-file")]
    # A logging config others can write is refused; it is read, never evaluated.
    assert "writable by group or others" in check(logging_conf, "log-config").problems[0]


def test_after_the_parse_registered_options_and_the_environment_count(home, tmp_path,
                                                                      monkeypatch):
    key = write(tmp_path / "placement.key", "key\n")
    decision, conf = _parsed(tmp_path, "[DEFAULT]\n")
    conf.register_opts([cfg.StrOpt("keyfile")], group="placement")
    conf.set_override("keyfile", key, group="placement")
    monkeypatch.setenv("OS_OSLO_MESSAGING_RABBIT__SSL_CERT_FILE", key)
    items = configfiles.files_to_check(decision, "nova", "nova-scheduler", os.environ, conf)
    assert items == [(key, "tls-cert"), (key, "tls-key")]


def test_read_sections_uses_oslo_config_parser(tmp_path):
    path = write(tmp_path / "a.conf", "[DEFAULT]\na = 1\na = 2\n[Scheduler]\nworkers = 3\n"
                 "  continued\n")
    assert configfiles.read_sections(path) == {
        "DEFAULT": {"a": ["1", "2"]}, "Scheduler": {"workers": ["3\ncontinued"]}}


# -- the parse reads the bytes that were checked ------------------------------------


def fresh_conf():
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt("marker"))
    return conf


def parse_records(conf, argv, records):
    from safe_launch import parse
    parse.call_parser(conf, argv, records, project="x", prog="y",
                      default_config_files=[], default_config_dirs=[])
    return conf


def test_the_parse_reads_the_checked_bytes_whatever_is_renamed_over_the_path(tmp_path):
    """A rename flip (A checked, B parsed, A again) can no longer feed B to the service."""
    path = write(tmp_path / "nova.conf", "[DEFAULT]\nmarker = A\n")
    rec = check(path)
    write(tmp_path / "b.conf", "[DEFAULT]\nmarker = B\n")
    os.replace(tmp_path / "b.conf", path)
    conf, _ = within(5, parse_records, fresh_conf(), ["--config-file", path], [rec])
    assert conf.marker == "A"
    assert configfiles.read_sections(rec) == {"DEFAULT": {"marker": ["A"]}}
    os.unlink(path)
    os.mkfifo(path)                 # opened, it would block
    conf, _ = within(5, parse_records, fresh_conf(), ["--config-file", path], [rec])
    assert conf.marker == "A"


def test_a_conf_that_appears_in_a_config_dir_after_the_check_is_refused_unopened(tmp_path):
    from safe_launch.errors import LaunchError
    d = tmp_path / "nova.conf.d"
    d.mkdir()
    write(d / "a.conf", "[DEFAULT]\nmarker = A\n")
    records = [check(d, "config-dir"), check(d / "a.conf", "config-dir-file")]
    os.mkfifo(d / "b.conf")         # opened, it would block
    with pytest.raises(LaunchError) as info:
        within(5, parse_records, fresh_conf(), ["--config-dir", str(d)], records)
    assert info.value.problems == ("%s: not checked before the parse (appeared after the "
                                   "file check?): refused, only checked files are read"
                                   % (d / "b.conf"),)
    assert cfg.ConfigParser.parse.__qualname__ == "ConfigParser.parse"     # restored


def test_a_parse_error_names_file_and_line_never_the_line(tmp_path):
    from safe_launch.errors import LaunchError
    from safe_launch import validate
    nonce = secrets.token_hex(16)
    path = write(tmp_path / "nova.conf", "[DEFAULT]\nmarker = A\n  %s = x\n[x\n" % nonce)
    write(tmp_path / "other.conf", "token_%s\n" % nonce)
    with pytest.raises(LaunchError) as info:
        parse_records(fresh_conf(), ["--config-file", path], [check(path)])
    assert info.value.problems == ("%s: line 4: Invalid section (must end with ])" % path,)
    report = validate.unknown_keys(fresh_conf(), [check(tmp_path / "other.conf")],
                                   dataclasses.replace(NOVA_SCHEDULER, namespaces=()))
    assert [p.message for p in report.errors] == [
        "cannot be parsed: line 1: No ':' or '=' found in assignment"]
    assert nonce not in repr(report) + repr(info.value.problems)


def test_the_checked_bytes_stay_out_of_repr_asdict_and_the_audit_record(tmp_path):
    import dataclasses
    nonce = secrets.token_hex(16)
    rec = check(write(tmp_path / "nova.conf", "[DEFAULT]\npassword = %s\n" % nonce))
    assert rec.ok and nonce in configfiles.read_sections(rec)["DEFAULT"]["password"][0]
    shown = repr(rec) + repr(dataclasses.asdict(rec)) + repr(configfiles.as_record(rec))
    assert nonce not in shown


def test_a_fifo_behind_a_proc_magic_link_is_named_a_fifo(tmp_path):
    """/dev/stdin on a pipe: /proc/self/fd/0 leads to "pipe:[N]", no path (was ENOENT)."""
    r, w = os.pipe()
    try:
        rec, took = within(5, check, "/proc/self/fd/%d" % r)
    finally:
        os.close(r)
        os.close(w)
    assert rec.problems == ("/proc/self/fd/%d: is a FIFO, not a regular file" % r,)


def test_before_the_parse_a_symlink_leading_out_is_refused_unread(tmp_path):
    inside, outside = tmp_path / "etc", tmp_path / "elsewhere"
    inside.mkdir()
    outside.mkdir()
    target = write(outside / "real.conf", "not ini\n")
    os.utime(target, ns=(10 ** 18, time.time_ns()))    # relatime: a read would move it
    os.symlink(target, inside / "50-x.conf")
    guard = argv.guard(["--config-dir", str(inside)], argv.cli_opts_of(cfg.ConfigOpts()))
    rec = configfiles.accept(str(inside / "50-x.conf"), "config-dir-file", None, guard,
                             os.environ)
    assert len(rec.problems) == 1 and "outside the allowed directories" in rec.problems[0]
    assert os.stat(target).st_atime_ns == 10 ** 18
    with pytest.raises(ValueError, match="outside the allowed directories"):
        configfiles.read_sections(rec)
