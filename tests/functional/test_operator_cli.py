"""The installed console scripts as an operator meets them: ``safe-launch check`` on a real
nova 34 sandbox, and ``nova-scheduler-safe --help`` / ``--version``."""

import importlib.util
import os
import re
import subprocess

from tests.functional.conftest import bin_path
from tests.functional.conftest import need

from safe_launch import version


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, **kw)


def test_check_says_checking_and_reads_worker_counts(make_env):
    env = make_env()
    r = run([bin_path("safe-launch"), "check", "--config-file", env.conf])
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"checking nova-scheduler \(pid \d+\)", lines[0])
    assert "launching" not in r.stdout
    workers = next(line for line in lines if line.startswith("workers="))
    assert re.search(r"memory allows \d+ workers", workers), workers
    # options after the service's arguments are check's too
    r = run([bin_path("safe-launch"), "check", "--config-file", env.conf, "--format", "json"])
    assert r.returncode == 0 and '"ok": true' in r.stdout


def test_check_into_a_closed_pipe_keeps_its_exit_code_without_a_traceback(make_env):
    env = make_env()
    for argv, code in (([], 0), (["--debug", "--nodebug"], 64)):
        read, write = os.pipe()
        os.close(read)                              # `| head -1` after its line
        try:
            r = subprocess.run([bin_path("safe-launch"), "check", "--config-file", env.conf]
                               + argv, stdout=write, stderr=subprocess.PIPE, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)
        finally:
            os.close(write)
        assert r.returncode == code
        assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr


def test_scheduler_version_shows_nova_and_safe_launch(make_env):
    env = make_env()
    r = run([bin_path("nova-scheduler-safe"), "--config-file", env.conf, "--version"])
    assert r.returncode == 0, r.stderr
    expected = "%s (safe_launch %s)" % (version.of("nova"), version.of("safe_launch"))
    assert r.stdout.strip() == expected
    assert re.search(r"--version of nova-scheduler \(pid \d+\)", r.stderr)


def test_scheduler_help_lists_only_what_the_guard_accepts(make_env):
    env = make_env()
    r = run([bin_path("nova-scheduler-safe"), "--config-file", env.conf, "--help"])
    assert r.returncode == 0, r.stderr
    assert "--config-file" in r.stdout and "--debug" in r.stdout
    assert "shell_completion" not in r.stdout
    assert "launching" not in r.stderr and "--help of nova-scheduler" in r.stderr
    # and what --help no longer lists is still refused, naming the rule
    r = run([bin_path("nova-scheduler-safe"), "--config-file", env.conf,
             "--shell_completion", "bash"])
    assert r.returncode == 64 and "denied by [safe_launch] denied_cli_options" in r.stderr


def test_no_option_of_the_service_is_taken_for_a_misspelt_check_option():
    need(importlib.util.find_spec("nova") is not None, "nova is not installed")
    from oslo_config import cfg

    from safe_launch import argv
    from safe_launch.cmd import admin
    from safe_launch import parse
    from safe_launch import spec

    conf = parse.load_options(spec.NOVA_SCHEDULER)
    cli_opts = argv.cli_opts_of(conf)
    spellings = ["--config-file", "--config_dir"]
    for opt, group in cli_opts:
        prefix = "" if group in (None, "DEFAULT") else group + "-"
        for name in [opt.name] + [d.name for d in opt.deprecated_opts if d.name]:
            spellings += ["--" + prefix + name, "--" + prefix + name.replace("-", "_")]
            if isinstance(opt, cfg.BoolOpt):
                spellings.append("--" + prefix + "no" + name)
    assert "--log-date-format" in spellings and len(spellings) > 20
    assert admin.misspelled_check_options(spellings) == []
