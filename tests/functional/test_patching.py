"""The concurrency backend and monkey patching, end to end."""

import os
import signal

import pytest

from tests.functional.conftest import ALLOW_PYTHONPATH, bin_path, ready, unisolated, until
from tests.functional.test_scheduler import rpc_ping

PREFIX = "nova-scheduler-safe:"
EVENTLET = {"OS_NOVA_DISABLE_EVENTLET_PATCHING": "0"}


def patching_line(proc):
    return next((line for line in proc.lines(PREFIX + " patching:")), "")


def test_threading_mode_launches_with_nothing_patched(make_env, launch):
    env = make_env()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: ready(proc), 30), proc.output()
    assert "threading backend" in patching_line(proc)
    assert patching_line(proc).endswith("patched: nothing")
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_eventlet_mode_patches_exactly_the_allowlist_and_answers_rpc(make_env, launch, rabbit):
    env = make_env(transport_url=rabbit.url)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, **EVENTLET))
    assert until(lambda: ready(proc), 30), proc.output()
    line = patching_line(proc)
    assert "eventlet backend (environment OS_NOVA_DISABLE_EVENTLET_PATCHING=0)" in line
    assert line.endswith("patched: os, select, socket, subprocess, thread, time")
    assert until(lambda: rpc_ping(rabbit.url) == "pong", 30, interval=1)
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0


@pytest.mark.parametrize("mode", [{}, EVENTLET], ids=["threading", "eventlet"])
def test_monkey_patching_sitecustomize_is_refused(make_env, launch, tmp_path, mode):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import eventlet\neventlet.monkey_patch()\n")
    env = make_env()
    # The console script's isolated interpreter would never run it: a plain one.
    proc = launch(unisolated("nova-scheduler-safe", "safe_launch.cmd.scheduler")
                  + ["--config-file", env.conf],
                  env=dict(os.environ, PYTHONPATH=str(site), **mode, **ALLOW_PYTHONPATH))
    assert proc.wait(60) == 78, proc.output()
    line = patching_line(proc)
    assert "already monkey-patched" in line and str(site / "sitecustomize.py") in line, \
        proc.output()
    assert env.services() == []


def test_allowlist_naming_ssl_is_refused_listing_the_accepted_targets(make_env, launch):
    env = make_env(extra="\n[safe_launch]\nmonkey_patch_allowlist = os,socket,ssl,thread\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, **EVENTLET))
    assert proc.wait(60) == 78
    line = patching_line(proc)
    assert "'ssl' is not an eventlet target" in line
    assert "accepted: os, select, socket, thread, time, psycopg, MySQLdb, builtins" in line
