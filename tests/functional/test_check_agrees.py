"""``safe-launch check`` and the real launch agree: same exit code, same errors.

One rule decides both (``Launch.validation``); this runs a corpus of valid
and invalid configurations through ``safe-launch check --format json`` and
through ``nova-scheduler-safe`` (stopped with SIGTERM once ready), and
compares.  Options libraries register lazily (oslo.messaging's,
keystonemiddleware's, keystoneauth plugins') are checked by type, and what
the scheduler cannot start without (databases, transport) is checked too.
"""

from concurrent import futures
import json
import os
import re
import secrets
import signal
import subprocess

import pytest

from tests.functional.conftest import bin_path, until

PREFIX = "nova-scheduler-safe: validate: "
NONCE = secrets.token_hex(8)

# (name, what replaces in or is added to the sandbox nova.conf, expected exit code)
BAD_VALUES = [
    ("rabbit_heartbeat", "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = lots\n"),
    ("rabbit_bool", "[oslo_messaging_rabbit]\namqp_durable_queues = maybe\n"),
    ("rabbit_choice", "[oslo_messaging_rabbit]\nkombu_failover_strategy = random-ish\n"),
    ("rabbit_float", "[oslo_messaging_rabbit]\nkombu_reconnect_delay = -5\n"),
    ("concurrency", "[oslo_concurrency]\ndisable_process_locking = perhaps\n"),
    ("notifications_retry", "[oslo_messaging_notifications]\nretry = x\n"),
    ("notifications_multi", "[oslo_messaging_notifications]\ndriver = log\n"
                            "[oslo_messaging_notifications]\ndriver = messagingv2\n"
                            "retry = 1.5\n"),
    ("authtoken_int", "[keystone_authtoken]\nhttp_connect_timeout = soon\n"),
    ("authtoken_bool", "[keystone_authtoken]\ninclude_service_catalog = maybe\n"),
    ("middleware", "[oslo_middleware]\nmax_request_body_size = big\n"),
    ("policy", "[oslo_policy]\nenforce_scope = sometimes\n"),
    ("privsep", "[privsep]\nthread_pool_size = 0\n"),
    ("placement_plugin_opt", "[placement]\nlogin_timeout = abc\n"),
    ("default_lazy", "[DEFAULT]\nrpc_response_timeout = never\n"),
    ("section_case", "[OSLO_MESSAGING_RABBIT]\nrabbit_qos_prefetch_count = many\n"),
    ("deprecated_name", "[oslo_messaging_rabbit]\nrabbit_interval_max = huge\n"),
    ("cors_list", "[cors]\nmax_age = old\n"),
    ("secret_bad_sub", "[keystone_authtoken]\nmemcache_secret_key = pw-%s-$nosuchopt\n" % NONCE),
    ("bad_substitution", "[oslo_messaging_rabbit]\nrabbit_retry_interval = $nosuchopt\n"),
]
REPLACED = [
    ("no_database", ("connection = sqlite:///{dir}/nova_cell1.sqlite", "")),
    ("no_api_database", ("connection = sqlite:///{dir}/nova_api.sqlite", "")),
    ("unknown_transport", ("transport_url = fake:/",
                           "transport_url = carrier-pigeon://u:%s@h:5672/" % NONCE)),
    ("bad_transport_port", ("transport_url = fake:/",
                            "transport_url = rabbit://u:%s@h:abc/" % NONCE)),
    ("bad_db_url", ("connection = sqlite:///{dir}/nova_cell1.sqlite",
                    "connection = not a url %s" % NONCE)),
    ("unknown_dialect", ("connection = sqlite:///{dir}/nova_cell1.sqlite",
                         "connection = nosuchdb://root:%s@127.0.0.1/nova" % NONCE)),
    ("unknown_driver", ("connection = sqlite:///{dir}/nova_api.sqlite",
                        "connection = mysql+nosuchdriver://root:%s@h/nova_api" % NONCE)),
    ("empty_transport", ("transport_url = fake:/", "transport_url =")),
    ("bad_notification_transport", ("[scheduler]", "[oslo_messaging_notifications]\n"
                                    "transport_url = pigeon://u:%s@h/\n[scheduler]" % NONCE)),
]
VALID = [
    ("sandbox", ""),
    ("lazy_values_valid", "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 30\n"
                          "rabbit_retry_interval = $report_interval\n"
                          "[oslo_concurrency]\ndisable_process_locking = true\n"
                          "[oslo_messaging_notifications]\ndriver = noop\ndriver = log\n"
                          "[keystone_authtoken]\nmemcache_secret_key = pa$$word\n"),
    ("env_sandbox", ""),
    ("empty_notification_transport", "[oslo_messaging_notifications]\ntransport_url =\n"),
]


def corpus():
    cases = [(name, ("", extra), 78) for name, extra in BAD_VALUES]
    cases += [(name, replace, 78) for name, replace in REPLACED]
    cases += [(name, ("", extra), 0) for name, extra in VALID]
    cases.append(("all_bad_at_once", ("", "".join(extra for _, extra in BAD_VALUES[:13])), 78))
    return cases


def write(env, replace):
    old, new = replace
    with open(env.conf) as f:
        text = f.read()
    if old.startswith("["):
        text = text.replace(old, new, 1)
    elif old:
        old = old.format(dir=env.dir)
        assert old in text
        text = text.replace(old, new.format(dir=env.dir))
    else:
        text += "\n" + new
    with open(env.conf, "w") as f:
        f.write(text)


def run_check(conf, env):
    result = subprocess.run([bin_path("safe-launch"), "check", "--format", "json",
                             "--config-file", conf], capture_output=True, text=True,
                            timeout=60, env=env)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["exit_code"] == result.returncode
    return result.returncode, {e["message"] for e in report["errors"]}, result.stdout


def run_launch(conf, env, log):
    with open(log, "w+") as out:
        proc = subprocess.Popen([bin_path("nova-scheduler-safe"), "--config-file", conf],
                                stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            def ready():
                out.seek(0)
                return "ready: worker" in out.read() or proc.poll() is not None
            until(ready, 60)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.seek(0)
        text = out.read()
    errors = {line[len(PREFIX):] for line in text.splitlines() if line.startswith(PREFIX)}
    # the phase's summary and its warnings are not errors
    errors = {e for e in errors if not re.match(r"\d+ error\(s\)|warning: ", e)}
    return code, errors, text


def test_check_and_launch_agree_on_every_configuration(make_env, tmp_path):
    cases = corpus()
    assert len(cases) >= 30
    jobs = []
    for name, replace, expected in cases:
        env = make_env(workers=1)
        write(env, replace)
        environ = dict(os.environ)
        if name == "env_sandbox":
            environ["OS_OSLO_MESSAGING_RABBIT__HEARTBEAT_TIMEOUT_THRESHOLD"] = "45"
        jobs.append((name, expected, env.conf, environ))
    jobs.append(("env_bad", 78, make_env(workers=1).conf, dict(
        os.environ, OS_OSLO_MESSAGING_RABBIT__HEARTBEAT_TIMEOUT_THRESHOLD="lots")))
    with futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda job: (job, run_check(job[2], job[3]),
                                             run_launch(job[2], job[3],
                                                        str(tmp_path / (job[0] + ".log")))),
                                jobs))
    failures = []
    for (name, expected, conf, _), (ccode, cerrors, cout), (lcode, lerrors, lout) in results:
        assert NONCE not in cout + lout, name
        if not (ccode == lcode == expected and cerrors == lerrors and
                (expected == 0) == (not cerrors)):
            failures.append((name, expected, ccode, lcode, cerrors ^ lerrors or cerrors,
                             lout[-600:]))
    assert not failures, "\n".join(map(repr, failures))
    by_name = {job[0]: r for job, r in zip(jobs, results)}
    everything = "\n".join(by_name["all_bad_at_once"][1][1])
    for group in ("oslo_messaging_rabbit", "oslo_concurrency", "oslo_messaging_notifications",
                  "keystone_authtoken", "oslo_middleware", "oslo_policy", "privsep",
                  "placement"):
        assert "[%s]" % group in everything, everything
    for name in ("no_database", "unknown_transport", "bad_db_url"):
        assert by_name[name][1][0] == 78
    assert any("(not shown: declared secret)" in e for e in by_name["secret_bad_sub"][1][1])


@pytest.mark.parametrize("name", [n for n, _ in BAD_VALUES[:3]])
def test_bad_lazy_value_is_78_naming_it(make_env, name):
    """Each on its own too: the error names the group and option."""
    env = make_env(workers=1)
    write(env, ("", dict(BAD_VALUES)[name]))
    code, errors, _ = run_check(env.conf, dict(os.environ))
    option = dict(BAD_VALUES)[name].splitlines()[1].split(" = ")[0]
    assert code == 78 and any(option in e for e in errors), errors


@pytest.mark.parametrize("backend", ["mariadb"])
def test_a_realistic_rabbitmq_and_mariadb_configuration_passes_and_serves(
        make_env, tmp_path, rabbit):
    """nova's databases on MariaDB (made by nova-manage), the transport on a
    real RabbitMQ: check exits 0 and the launch serves, then stops with 0."""
    env = make_env(transport_url=rabbit.url, workers=1)
    with open(env.conf) as f:
        conf = f.read()
    assert "connection = mysql+pymysql://" in conf and "rabbit://" in conf, conf
    code, errors, out = run_check(env.conf, dict(os.environ))
    assert (code, errors) == (0, set()), out
    lcode, lerrors, lout = run_launch(env.conf, dict(os.environ), str(tmp_path / "launch.log"))
    assert (lcode, lerrors) == (0, set()), lout[-3000:]
    assert "ready: worker" in lout, lout[-3000:]
    assert env.services("nova-scheduler"), "no services row on MariaDB"
