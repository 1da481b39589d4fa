"""SIGHUP: the launcher checks the new configuration before the service sees it."""

import os
import signal

import pytest

from tests.functional.conftest import bin_path, ready, until
from tests.functional.test_scheduler import rpc_ping

EVENTLET = {"OS_NOVA_DISABLE_EVENTLET_PATCHING": "0"}

PREFIX = "nova-scheduler-safe:"


def start(make_env, launch, environ=None, workers=1, **kw):
    env = make_env(workers=workers, **kw)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=dict(os.environ, **environ) if environ else None)
    assert until(lambda: ready(proc), 30), proc.output()
    return env, proc


def append(env, text):
    with open(env.conf, "a") as f:
        f.write(text)


def test_a_valid_edit_is_passed_to_the_service(make_env, launch):
    env, proc = start(make_env, launch)
    append(env, "\n[DEFAULT]\ndebug = true\n")
    proc.signal(signal.SIGHUP)
    assert until(lambda: proc.lines(PREFIX + " reload: configuration checked"), 15), \
        proc.output()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


@pytest.mark.parametrize("environ,workers", [({}, 1), (EVENTLET, 2)],
                         ids=["threading", "eventlet"])
def test_an_invalid_cli_value_is_refused_and_the_service_keeps_serving(
        make_env, launch, rabbit, environ, workers):
    """Stock nova's master deadlocks here and then ignores SIGTERM.

    In eventlet mode (oslo.service's own ProcessLauncher), the check runs
    first as well: nothing restarts, and a clean edit afterwards goes through.
    """
    env, proc = start(make_env, launch, environ, workers, transport_url=rabbit.url)
    assert until(lambda: len(proc.children()) == workers, 15), proc.children()
    workers = proc.children()
    append(env, "\n[DEFAULT]\ndebug = maybe\n")
    proc.signal(signal.SIGHUP)
    refused = until(lambda: proc.lines(PREFIX + " reload refused"), 15)
    assert refused and "Invalid Boolean value: maybe" in refused[0], proc.output()
    count = env.services("nova-scheduler")[0][3]
    assert until(lambda: env.services("nova-scheduler")[0][3] > count, 20)
    assert proc.children() == workers
    assert until(lambda: rpc_ping(rabbit.url) == "pong", 30, interval=1)
    if environ:
        with open(env.conf) as f:
            text = f.read()
        with open(env.conf, "w") as f:
            f.write(text.replace("debug = maybe", "debug = true"))
        proc.signal(signal.SIGHUP)
        assert until(lambda: proc.lines(PREFIX + " reload: configuration checked"), 15), \
            proc.output()
        assert until(lambda: "Caught SIGHUP" in proc.output(), 15), proc.output()
        assert len(proc.lines(PREFIX + " reload refused")) == 1
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_an_unknown_key_is_refused_on_reload(make_env, launch):
    env, proc = start(make_env, launch)
    append(env, "\n[oslo_messaging_rabbit]\nssl_ca_fiel = /etc/ssl/ca.pem\n")
    proc.signal(signal.SIGHUP)
    refused = until(lambda: proc.lines(PREFIX + " reload refused"), 15)
    assert refused and "ssl_ca_fiel" in refused[0], proc.output()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_a_reload_says_which_changes_it_applies_and_which_wait_for_a_restart(make_env, launch):
    """oslo.config applies only mutable options: a changed [database] option stays
    as it was until the restart, so the reload record must not claim it."""
    env, proc = start(make_env, launch, workers=64)    # bounded to what the CPUs allow
    append(env, "\n[DEFAULT]\ndebug = true\n\n[database]\nconnection_recycle_time = 1234\n")
    proc.signal(signal.SIGHUP)
    lines = until(lambda: proc.lines(PREFIX + " reload: configuration checked"), 15)
    assert lines, proc.output()
    assert "applied: [DEFAULT] debug" in lines[0], lines
    assert "not applied until a restart: [database] connection_recycle_time" in lines[0], lines
    assert "[scheduler] workers" not in lines[0]        # the launcher's own bound is no change
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_immutable_changes_can_be_refused(make_env, launch):
    env, proc = start(make_env, launch,
                      extra="\n[safe_launch]\nreload_immutable_changes = refuse\n")
    append(env, "\n[database]\nconnection_recycle_time = 1234\n")
    proc.signal(signal.SIGHUP)
    refused = until(lambda: proc.lines(PREFIX + " reload refused"), 15)
    assert refused and "[database] connection_recycle_time: changed, but immutable" in \
        refused[0], proc.output()
    proc.signal(signal.SIGTERM)
    assert proc.wait(15) == 0
