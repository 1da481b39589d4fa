"""One rule decides whether a file may be opened; the parse reads the bytes it judged.

Real nova-scheduler-safe processes, real FIFOs, symlinks, pipes and /proc.
"""

import os
import secrets
import signal
import subprocess
import time

from tests.functional.conftest import bin_path, until
from tests.functional.test_reload import PREFIX, append, start
from tests.functional.test_scheduler import rpc_ping


def run_safe(args, timeout=60, **kw):
    result = subprocess.run([bin_path("nova-scheduler-safe")] + args, capture_output=True,
                            text=True, timeout=timeout, **kw)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


def audit_text(env):
    with open(os.path.join(env.dir, "audit.jsonl")) as f:
        return f.read()


def test_a_fifo_swapped_in_before_sighup_is_refused_and_sigterm_still_stops(
        make_env, launch, rabbit):
    """Before: the reload check's parse blocked the master in open(); only SIGKILL ended it."""
    env, proc = start(make_env, launch, transport_url=rabbit.url)
    fifo = env.conf + ".new"
    os.mkfifo(fifo, 0o600)
    os.replace(fifo, env.conf)
    proc.signal(signal.SIGHUP)
    refused = until(lambda: proc.lines(PREFIX + " reload refused"), 15)
    assert refused and "%s: is a FIFO, not a regular file" % env.conf in refused[0], \
        proc.output()
    assert until(lambda: rpc_ping(rabbit.url) == "pong", 30, interval=1)
    stopping = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert time.monotonic() - stopping < 15


def test_a_line_that_fails_to_parse_is_never_quoted_on_launch_check_or_reload(
        make_env, launch):
    """oslo.config's ParseError quotes the raw line: a token no masking recognises."""
    nonce = secrets.token_hex(16)
    env = make_env(workers=1)
    bad = os.path.join(env.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("[DEFAULT]\ndebug = false\ntoken_%s\n" % nonce)
    os.chmod(bad, 0o640)
    code, err = run_safe(["--config-file", env.conf, "--config-file", bad])
    assert code == 78, err
    assert "%s: line 3: No ':' or '=' found in assignment" % bad in err, err
    assert err.count(bad) == 1, err          # the path once, not "bad: bad: ..."
    assert nonce not in err and nonce not in audit_text(env)
    result = subprocess.run([bin_path("safe-launch"), "check", "--config-file", bad],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 78 and "line 3" in result.stdout, result.stdout
    assert nonce not in result.stdout + result.stderr

    env, proc = start(make_env, launch)
    append(env, "\n[DEFAULT]\ntoken_%s\n" % nonce)
    proc.signal(signal.SIGHUP)
    refused = until(lambda: proc.lines(PREFIX + " reload refused"), 15)
    assert refused and "No ':' or '=' found in assignment" in refused[0], proc.output()
    assert nonce not in proc.output() and nonce not in audit_text(env)


def test_a_config_dir_symlink_leading_out_is_refused_and_never_read(make_env, tmp_path):
    """Before: the pre-parse check skipped the symlink rule; oslo.config parsed the target."""
    nonce = secrets.token_hex(16)
    env = make_env(workers=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target.conf"
    target.write_text("[DEFAULT]\ntoken_%s\n" % nonce)
    target.chmod(0o640)
    # atime older than mtime: with relatime, any read would move it
    os.utime(target, ns=(10 ** 18, time.time_ns()))
    confd = tmp_path / "nova.conf.d"
    confd.mkdir(mode=0o750)
    (confd / "50-link.conf").symlink_to(target)
    code, err = run_safe(["--config-file", env.conf, "--config-dir", str(confd)])
    assert code == 78, err
    assert "reached through symlink %s" % (confd / "50-link.conf") in err, err
    assert "outside the allowed directories" in err
    assert nonce not in err and "found in assignment" not in err
    assert os.stat(target).st_atime_ns == 10 ** 18, "the target was read"
    assert env.services() == []


def test_dev_stdin_on_a_pipe_is_named_a_fifo(make_env):
    """Before: "No such file or directory" (/proc/self/fd/0 leads to pipe:[N])."""
    code, err = run_safe(["--config-file", "/dev/stdin"], input="[DEFAULT]\ndebug = true\n",
                         timeout=30)
    assert code == 78, err
    assert "/dev/stdin: is a FIFO, not a regular file" in err, err
    assert "No such file" not in err


def test_proc_self_environ_is_refused_by_the_pseudo_file_system_rule_alone(make_env):
    """Before: a later step read it anyway and reported oslo.config's parse error."""
    nonce = secrets.token_hex(16)
    code, err = run_safe(["--config-file", "/proc/self/environ"], timeout=30,
                         env=dict(os.environ, SAFE_LAUNCH_TEST_NONCE=nonce))
    assert code == 78, err
    lines = [x for x in err.splitlines() if x.startswith(PREFIX + " parse: ")]
    assert len(lines) == 1 and "is on a pseudo file system" in lines[0], err
    assert "Failed to parse" not in err and "assignment" not in err and nonce not in err
