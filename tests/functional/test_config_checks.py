"""The command line and configuration, checked before anything starts.

Each test names the stock nova-scheduler 34 behaviour it replaces
(measured: ../shared/notes/nova-and-oslo-facts.md §2-§4).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from safe_launch.spec import NOVA_SCHEDULER
from tests.functional.conftest import bin_path

PREFIX = "nova-scheduler-safe:"


def run_safe(args, timeout=60, env=None):
    result = subprocess.run([bin_path("nova-scheduler-safe")] + args, capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert "Traceback" not in result.stderr
    return result.returncode, [x for x in result.stderr.splitlines() if x.startswith(PREFIX)]


def check(args, timeout=60):
    result = subprocess.run([bin_path("safe-launch"), "check"] + args, capture_output=True,
                            text=True, timeout=timeout)
    assert "Traceback" not in result.stderr + result.stdout
    return result.returncode, result.stdout


def test_abbreviated_option_is_a_usage_error(make_env):
    """Stock: --config-f is taken as --config-file and loads the default files too."""
    env = make_env()
    code, lines = run_safe(["--config-f", env.conf])
    assert code == 64
    assert any("--config-f" in x and "did you mean --config-file" in x for x in lines), lines
    assert env.services() == []


def test_fifo_config_file_is_refused_without_hanging(make_env, tmp_path):
    """Stock: open() on a FIFO without a writer hangs forever."""
    fifo = tmp_path / "nova.conf"
    os.mkfifo(fifo)
    start = time.monotonic()
    code, lines = run_safe(["--config-file", str(fifo)], timeout=30)
    assert code == 78 and time.monotonic() - start < 5
    assert any(str(fifo) in x and "FIFO" in x.upper() for x in lines), lines


def test_world_writable_config_file_is_refused(make_env):
    env = make_env()
    os.chmod(env.conf, 0o666)
    code, lines = run_safe(["--config-file", env.conf])
    assert code == 78
    assert any(env.conf in x and "writable" in x for x in lines), lines
    assert env.services() == []


def test_three_bad_values_are_reported_at_once(make_env):
    """Stock: lazy, one error at a time, the first only after database access."""
    env = make_env(extra="\n[scheduler]\nworkers = abc\n\n[DEFAULT]\nreport_interval = soon\n"
                         "\n[libvirt]\ncpu_mode = bogus\n")
    code, lines = run_safe(["--config-file", env.conf])
    assert code == 78
    text = "\n".join(lines)
    for where in ("[scheduler] workers", "[DEFAULT] report_interval", "[libvirt] cpu_mode"):
        assert where in text, text
    assert env.services() == []


def test_typo_in_oslo_messaging_rabbit_is_refused(make_env):
    """Stock: ignored silently, so the intended TLS setting never applies."""
    env = make_env(extra="\n[oslo_messaging_rabbit]\nssl_ca_fiel = /etc/ssl/ca.pem\n")
    code, lines = run_safe(["--config-file", env.conf])
    assert code == 78
    assert any("[oslo_messaging_rabbit] ssl_ca_fiel" in x for x in lines), lines


LOGGING_INI = """\
[loggers]
keys = root
[handlers]
keys = h
[formatters]
keys =
[logger_root]
handlers = h
[handler_h]
class = FileHandler
args = (open({marker!r}, 'w').name,)
"""


@pytest.mark.parametrize("where", ["argv", "config"])
def test_writable_log_config_append_is_refused_and_never_evaluated(make_env, tmp_path, where):
    """Stock: logging.config.fileConfig evaluates Python from whoever can write it."""
    marker = tmp_path / "evaluated"
    ini = tmp_path / "logging.ini"
    ini.write_text(LOGGING_INI.format(marker=str(marker)))
    os.chmod(ini, 0o666)
    if where == "argv":
        env = make_env()
        args = ["--config-file", env.conf, "--log-config-append", str(ini)]
    else:
        env = make_env(extra="\n[DEFAULT]\nlog_config_append = %s\n" % ini)
        args = ["--config-file", env.conf]
    code, lines = run_safe(args)
    assert code == 78
    assert any(str(ini) in x and "writable" in x for x in lines), lines
    assert not marker.exists()


def test_nova_full_sample_config_passes_check(tmp_path):
    """No false positive: every option of nova's namespaces at its default."""
    sample = tmp_path / "nova.conf.sample"
    args = [bin_path("oslo-config-generator"), "--output-file", str(sample)]
    for namespace in NOVA_SCHEDULER.namespaces:
        args += ["--namespace", namespace]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    lines = []
    for line in sample.read_text().splitlines():
        match = re.match(r"^#([A-Za-z0-9_-]+) = (.*)$", line)
        # skip <None>, <host> ... and prose defaults (privsep: multiprocessing.cpu_count())
        if match and not re.match(r"<|[\w.]+\(\)$", match.group(2)):
            line = "%s = %s" % match.groups()
        if line in ("[database]", "[api_database]"):    # what the scheduler cannot do without
            line += "\nconnection = sqlite:///%s" % (tmp_path / (line[1:-1] + ".sqlite"))
        lines.append(line)
    conf = tmp_path / "nova.conf"
    conf.write_text("\n".join(lines) + "\n")
    assert len(re.findall(r"(?m)^[a-z]", conf.read_text())) > 500
    code, out = check(["--config-file", str(conf)])
    assert code == 0, out


# -- random command lines: the guard and the parse end in 0, 64 or 78 ----------------

TOKENS = ["--config-file", "--config-dir", "--debug", "--nodebug", "-d", "--log-file",
          "--log_file", "--log-dir", "--use-journal", "--use-json", "--version", "--config-f",
          "--deb", "--log_", "--", "-", "--syslog-log-facility", "--log-date-format",
          "--watch-log-file", "--nouse-syslog", "--shell_completion", "x", "", "\x00",
          "--debug=1", "--log-file=", "/etc/passwd", "/dev/null", "/tmp", "\udcff"]


@pytest.fixture(scope="module")
def conf_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("conf") / "nova.conf"
    path.write_text("[DEFAULT]\ndebug = false\n")
    os.chmod(path, 0o640)
    return str(path)


@settings(max_examples=150, deadline=5000,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tokens=st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), max_size=8))
def test_random_argv_ends_in_0_64_or_78_without_traceback(tokens, conf_path, capsys):
    import nova.conf

    from safe_launch.launcher import Launch
    from safe_launch.spec import NOVA_SCHEDULER

    argv = list(tokens)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    nova.conf.CONF.clear()
    try:
        # In pytest's own process: no process hygiene (it would close pytest's files).
        code = Launch(NOVA_SCHEDULER, ["--config-file", conf_path] + argv, until="parse",
                      sinks=[], process_hygiene=False).run()
    finally:
        nova.conf.CONF.clear()      # parsed: the next in-process test could not register
        for signo, handler in handlers.items():
            signal.signal(signo, handler)
    captured = capsys.readouterr()
    assert code in (0, 64, 78), (argv, code, captured.err)
    assert "Traceback" not in captured.err + captured.out
    assert sys.modules.get("eventlet") is None


def test_check_json_lists_every_error_with_where_it_applies(make_env):
    env = make_env(extra="\n[scheduler]\nworkers = abc\n\n[oslo_messaging_rabbit]\n"
                         "ssl_ca_fiel = /etc/ssl/ca.pem\n")
    result = subprocess.run([bin_path("safe-launch"), "check", "--format", "json",
                             "--config-file", env.conf], capture_output=True, text=True,
                            timeout=60)
    report = json.loads(result.stdout)
    assert result.returncode == report["exit_code"] == 78 and report["ok"] is False
    where = {(e["phase"], e.get("group"), e.get("option"), e.get("file"))
             for e in report["errors"]}
    assert ("validate", "scheduler", "workers", env.conf) in where
    assert ("validate", "oslo_messaging_rabbit", "ssl_ca_fiel", env.conf) in where
