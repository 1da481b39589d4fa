"""Hostile inputs, round 4: what the installed trampolines do end to end.

* ``--log-dir`` without ``--log-file``: oslo.log names the file after the
  outermost frame, which under the trampoline's ``python -I -c`` is
  ``<string>``; every safe console script must write ``<log_dir>/<binary>.log``
  as the stock script does.
"""

import os
import re
import signal

import pytest

from tests.functional import hostile
from tests.functional.conftest import bin_path, ready, until
from tests.functional.test_hostile_corpus import Ctx, launch_env


def test_log_dir_alone_writes_the_binarys_log_file(make_env, launch, tmp_path):
    env = make_env(workers=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf,
                   "--log-dir", str(logs)])
    assert until(lambda: ready(proc), 90), proc.output()[-3000:]
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    assert sorted(os.listdir(logs)) == ["nova-scheduler.log"]
    with open(logs / "nova-scheduler.log") as f:
        assert f.read().strip(), "the log file is empty"


def test_log_dir_in_the_file_names_the_conductors_log(make_env, launch, tmp_path):
    env = make_env(workers=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(env.conf) as f:
        text = f.read()
    with open(env.conf, "w") as f:
        f.write(text.replace("[DEFAULT]\n", "[DEFAULT]\nlog_dir = %s\n" % logs, 1))
    proc = launch([bin_path("nova-conductor-safe"), "--config-file", env.conf])
    assert until(lambda: ready(proc, "nova-conductor-safe:"), 90), proc.output()[-3000:]
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    assert sorted(os.listdir(logs)) == ["nova-conductor.log"]


# -- every refusal, at every phase, leaves exactly one launch in the trail ------------
#
# test_trail_every_launch.py shows it for guard, parse and validate; this walks one
# refusal per phase, the key file's too, through the corpus' rules (hostile.problems:
# launch.started and launch.failed of this pid, the exit code, the trail verifying,
# the nonce nowhere) and asks for exactly one launch id and the refusal's phase.

def _key(ctx, content, mode=0o600, name="audit.key"):
    return ctx.with_file("[safe_launch]\naudit_key_file = %s\n"
                         % ctx.file(name, content, mode=mode))


def _fifo_key(ctx):
    key = ctx.fifo("key.fifo")
    os.chmod(key, 0o600)
    return ctx.with_file("[safe_launch]\naudit_key_file = %s\n" % key)


PHASES = {
    # name: (build(ctx) -> (args, env), exit code, phase, message regex)
    "guard-unknown-option": (lambda ctx: (["--config-file", ctx.conf, "--bogus"], {}),
                             64, "guard", r"--bogus"),
    "hygiene-pythonwarnings": (lambda ctx: (["--config-file", ctx.conf],
                                            {"PYTHONWARNINGS": "error::" + ctx.nonce}),
                               78, "hygiene", r"PYTHONWARNINGS"),
    "file-world-writable": (lambda ctx: (ctx.with_file("# %s\n" % ctx.nonce, mode=0o666), {}),
                            78, "validate", r"hostile\.conf.*writable"),
    "file-missing": (lambda ctx: (["--config-file", ctx.conf, "--config-file",
                                   os.path.join(ctx.dir, "nosuch.conf")], {}),
                     78, "parse", r"nosuch\.conf"),
    "parse-bad-cli-value": (lambda ctx: (ctx.with_file("[DEFAULT]\ndebug = maybe\n"), {}),
                            78, "parse", r"debug"),
    "validate-bad-value": (lambda ctx: (ctx.with_file("[scheduler]\nmax_attempts = lots\n"),
                                        {}), 78, "validate", r"max_attempts"),
    "audit-key-too-short": (lambda ctx: (_key(ctx, ctx.nonce[:8] + "\n"), {}),
                            78, "guard", r"audit key file .*fewer than"),
    "audit-key-group-readable": (lambda ctx: (_key(ctx, ctx.nonce * 2, mode=0o640), {}),
                                 78, "guard", r"audit key file .*accessible by group"),
    "audit-key-missing": (lambda ctx: (ctx.with_file("[safe_launch]\naudit_key_file = %s\n"
                                                     % os.path.join(ctx.dir, "nokey")), {}),
                          78, "guard", r"audit key file .*cannot be read"),
    "audit-key-fifo": (lambda ctx: (_fifo_key(ctx), {}), 78, "guard",
                       r"audit key file .*not a regular file"),
    "workers-refused": (lambda ctx: (ctx.with_file("[safe_launch]\nworker_bound = refuse\n"
                                                   "[scheduler]\nworkers = 100000\n"), {}),
                        78, "workers", r"workers"),
    "patching-env-maybe": (lambda ctx: (["--config-file", ctx.conf],
                                        {"OS_NOVA_DISABLE_EVENTLET_PATCHING": "maybe"}),
                           78, "patching", r"OS_NOVA_DISABLE_EVENTLET_PATCHING"),
    "validate-unknown-driver": (
        lambda ctx: (ctx.with_file("[DEFAULT]\ntransport_url = nosuch://\n"), {}),
        78, "validate", r"transport_url"),
}


@pytest.mark.parametrize("name", list(PHASES))
def test_every_refusal_is_one_launch_in_the_trail(name, make_env, tmp_path):
    build, code, phase, pattern = PHASES[name]
    ctx = Ctx(make_env(), tmp_path)
    args, env = build(ctx)
    result = hostile.run([bin_path("nova-scheduler-safe")] + args, launch_env(ctx, env),
                         ctx.run_dir, timeout=60)
    expect = hostile.Expect(code, (pattern,))
    found = hostile.problems(expect, result, ctx.nonce, ctx.audit_log,
                             ctx.audit_log + ".anchor")
    mine = hostile.launch_records(hostile.read_records(ctx.audit_log) or [], result.pid)
    ids = {r["launch_id"] for r in mine}
    if len(ids) != 1 or [r["event"] for r in mine].count("launch.started") != 1:
        found.append("%d launches, events %s" % (len(ids), [r["event"] for r in mine]))
    failed = [r for r in mine if r["event"] == "launch.failed"]
    if failed and {r["data"]["phase"] for r in failed} != {phase}:
        found.append("refused in %s, expected %s" % (
            sorted({r["data"]["phase"] for r in failed}), phase))
    if not any(re.search(pattern, r["summary"]) for r in failed):
        found.append("no launch.failed record matches /%s/" % pattern)
    if name.startswith("audit-key"):
        if not any(r["event"] == "audit.key_refused" for r in mine):
            found.append("no audit.key_refused record")
    assert not found, "%s: exit %s\n  %s\nstderr: %s" % (
        name, result.code, "\n  ".join(found), hostile.redact(result.stderr[-1500:], ctx.nonce))


# -- URL query arguments the driver refuses: check and launch both 78, naming the option -----
# (database: the dialect's and the driver's own rule; transport: rabbit reads each
# argument as an [oslo_messaging_rabbit] option)

QUERIES = {
    "db-port-abc": ("[database]\nconnection = mysql+pymysql://nova:%s@127.0.0.1/nova?port=abc",
                    r"\[database\] connection.*nova:\*\*\*@.*port should be of type int"),
    "db-charset-bogus": ("[database]\nconnection = mysql+pymysql://nova:%s@127.0.0.1/nova"
                         "?charset=bogus",
                         r"\[database\] connection.*nova:\*\*\*@.*unknown charset"),
    "db-connect-timeout-x": ("[database]\nconnection = mysql+pymysql://nova:%s@127.0.0.1/nova"
                             "?connect_timeout=x",
                             r"\[database\] connection.*nova:\*\*\*@.*invalid literal for int"),
    "mq-heartbeat-x": ("[DEFAULT]\ntransport_url = rabbit://nova:%s@127.0.0.1:1/?heartbeat=x",
                       r"transport_url.*nova:\*\*\*@.*'heartbeat' is not an option"),
    "mq-ssl-maybe": ("[DEFAULT]\ntransport_url = rabbit://nova:%s@127.0.0.1:1/?ssl=maybe",
                     r"transport_url.*nova:\*\*\*@.*'ssl': Unexpected boolean value"),
}


@pytest.mark.parametrize("check", [True, False], ids=["check", "launch"])
@pytest.mark.parametrize("name", list(QUERIES))
def test_a_url_query_the_driver_refuses_is_78(name, check, make_env, tmp_path):
    text, rule = QUERIES[name]
    ctx = Ctx(make_env(), tmp_path)
    args = ctx.with_file(text % ctx.nonce + "\n")
    argv = [bin_path("safe-launch"), "check", "--format", "json"] + args if check else \
        [bin_path("nova-scheduler-safe")] + args
    result = hostile.run(argv, launch_env(ctx, {}), ctx.run_dir, timeout=60)
    expect = hostile.Expect(78, (rule,), check=check)
    found = hostile.problems(expect, result, ctx.nonce, ctx.audit_log,
                             ctx.audit_log + ".anchor")
    if not check and result.elapsed > 10:
        found.append("took %.1fs: refused before the service was created?" % result.elapsed)
    assert not found, "%s\nstderr: %s" % ("\n  ".join(found),
                                          hostile.redact(result.stderr[-1500:], ctx.nonce))


# -- an auth_type naming no keystoneauth plugin: 78 in validate, check agreeing ------------

@pytest.mark.parametrize("check", [True, False], ids=["check", "launch"])
def test_an_unknown_auth_plugin_is_78_in_check_and_launch(check, make_env, tmp_path):
    ctx = Ctx(make_env(), tmp_path)
    args = ctx.with_file("[placement]\nauth_type = nosuch\npassword = %s\n" % ctx.nonce)
    argv = [bin_path("safe-launch"), "check", "--format", "json"] + args if check else \
        [bin_path("nova-scheduler-safe")] + args
    result = hostile.run(argv, launch_env(ctx, {}), ctx.run_dir, timeout=60)
    expect = hostile.Expect(78, (r"\[placement\] auth_type.*no plugin 'nosuch'",), check=check)
    found = hostile.problems(expect, result, ctx.nonce, ctx.audit_log,
                             ctx.audit_log + ".anchor")
    if not check and "validate: [placement] auth_type" not in result.stderr:
        found.append("not refused in validate")
    assert not found, "%s\nstderr: %s" % ("\n  ".join(found),
                                          hostile.redact(result.stderr[-1500:], ctx.nonce))
