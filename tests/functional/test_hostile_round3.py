"""Round 3 of hostile inputs, run against the real launcher like the corpus.

Each case is judged by the corpus' rules (tests/functional/hostile.py): the
exit code, one ``nova-scheduler-safe: <phase>: <message>`` line naming the
file and the rule, no traceback, no raw control character, nothing left
running, the nonce nowhere (stderr, trail, anchor, journal), the launch in
the trail with its ``launch.failed``, the trail verifying.

1. ``[DEFAULT] log_config_append`` files that logging.config.fileConfig
   refuses: the launch failed while the service was created (70, or 69 for
   an unknown handler class) quoting the offending line or raw value, and
   ``safe-launch check`` said 0; a SIGHUP onto such a file was accepted.
2. An audit log location the launch refuses (73): ``safe-launch check``
   said 0, since a check writes no trail; it now judges the location the
   way the launch opens it, creating nothing.
"""

import os
import signal

import pytest

from tests.functional import hostile
from tests.functional.conftest import bin_path, until
from tests.functional.hostile import Expect
from tests.functional.test_hostile_corpus import corpus, Ctx, Input, judge, launch_env

LOG_HEAD = ("[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=\n"
            "[logger_root]\nhandlers=h\n")
QUIET = LOG_HEAD + "[handler_h]\nclass=NullHandler\nargs=()\n"

CASES, case = corpus()


def log_config(ctx, text):
    return ["--config-file", ctx.conf, "--log-config-append",
            ctx.file("logging.conf", text, mode=0o600)]


# -- log_config_append: what fileConfig refuses, refused before the service is created --

_LOG_CASES = {
    # configparser's InterpolationMissingOptionError quotes the raw value
    "interpolation": (LOG_HEAD + "[handler_h]\nclass=StreamHandler\nargs=('%(x{n})s',)\n",
                      r"logging\.conf: \[handler_h\] args: bad"),
    # ParsingError quotes the line
    "unparsable-line": (LOG_HEAD + "[handler_h]\nclass=StreamHandler\nargs=()\n{n}\n",
                        r"logging\.conf: line 12: not a 'name = value' line"),
    "no-section-header": ("route={n}\n", r"logging\.conf: line 1"),
    # ModuleNotFoundError quotes the class (was exit 69: "not installed")
    "unknown-class": (LOG_HEAD + "[handler_h]\nclass=Stream{n}Handler\n",
                      r"logging\.conf: \[handler_h\] class: no such class"),
    "args-syntax": (LOG_HEAD + "[handler_h]\nclass=StreamHandler\nargs=('{n}',\n",
                    r"logging\.conf: \[handler_h\] args: not a Python expression"),
    "missing-formatters": ("[loggers]\nkeys=root\n[logger_root]\nhandlers=\n"
                           "[handlers]\nkeys=\n# {n}\n", r"no \[formatters\] keys"),
}
for _name, (_text, _rule) in _LOG_CASES.items():
    case("log-config-%s" % _name, 78, _rule)(
        lambda ctx, _text=_text: Input(log_config(ctx, _text.format(n=ctx.nonce))))
case("log-config-check-agrees", 78, r"logging\.conf: \[handler_h\] args: bad", check=True)(
    lambda ctx: Input(log_config(ctx, _LOG_CASES["interpolation"][0].format(n=ctx.nonce))))


def sighup_onto(text):
    """Once ready: the log config rewritten to ``text``, SIGHUP; refused, still serving."""
    def build(ctx):
        args = log_config(ctx, QUIET)

        def during(proc, err_path):
            if not until(lambda: hostile._became_ready(err_path), 60):
                return ["never became ready"]
            with open(args[-1], "w") as f:
                f.write(text.format(n=ctx.nonce))
            proc.send_signal(signal.SIGHUP)

            def refused():
                return any(r.get("event") == "reload.refused"
                           for r in hostile.read_records(ctx.audit_log) or [])
            notes = [] if until(refused, 20) else ["no reload.refused 20s after SIGHUP"]
            if proc.poll() is not None:
                return notes + ["exited %s after SIGHUP" % proc.returncode]
            accepted = [r for r in hostile.read_records(ctx.audit_log) or []
                        if r.get("event") == "reload.accepted"]
            if accepted:
                notes.append("reload.accepted: %s" % accepted[0].get("summary"))
            proc.send_signal(signal.SIGTERM)
            return notes
        return Input(args, during=during, timeout=90)
    return build


case("log-config-sighup-interpolation", 0, journal=False)(
    sighup_onto(_LOG_CASES["interpolation"][0]))


# -- a deprecated name through $substitution: oslo.config logged it raw on stderr ---------
# (the masker's read of every value, before oslo.log is set up), a stray line
# outside the one-line format; validate reports deprecated names itself.
case("deprecated-name-substituted-no-stray-line", 78, r"\[cache\] socket_timeout")(
    lambda ctx: Input(ctx.with_file("[cache]\nredis_password = %s\n"
                                    "socket_timeout = $cache.redis_password\n" % ctx.nonce)))


# -- undecodable bytes in a secret (surrogateescape): the masker's URL-quoted form
# raised UnicodeEncodeError before the argv guard, a traceback, exit 1, no trail.
case("env-undecodable-byte-in-declared-secret", 78, r"\[placement\] password")(
    lambda ctx: Input(["--config-file", ctx.conf],
                      env={"OS_PLACEMENT__PASSWORD": ctx.nonce + "\udcfe$nosuch"}))
case("env-undecodable-byte-in-url-password", 78, r"\[scheduler\] workers")(
    lambda ctx: Input(["--config-file", ctx.conf],
                      env={"OS_SCHEDULER__WORKERS": "rabbit://u:%s\udcff@h/" % ctx.nonce}))
case("argv-undecodable-byte-in-declared-secret", 64, r"U\+DCFF")(
    lambda ctx: Input(["--config-file", ctx.conf,
                       "--vault-approle-role-id=%s\udcff" % ctx.nonce]))
case("argv-undecodable-byte-in-secret-check", 64, r"U\+DCFF", check=True)(
    lambda ctx: Input(["--config-file", ctx.conf, "--os-password", ctx.nonce + "\udcff"]))

# The guard cut a long --name=value at 60 characters of the whole token: a
# prefix of the secret, at an offset the name sets, was shown unmasked.
case("argv-long-declared-secret-with-control-char", 64, r"U\+001B")(
    lambda ctx: Input(["--config-file", ctx.conf,
                       "--vault-approle-role-id=%s%s\x1b" % (ctx.nonce, ctx.nonce)]))


# An indented secret line is a continuation of the value above it, which the
# int error quotes: a declared secret's name ([vault] approle_role_id) is not
# one the name heuristic knows.
case("conf-indented-secret-line-continues-an-int", 78, r"\[DEFAULT\] report_interval")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\nreport_interval = 10\n"
                                    "    approle_role_id = %s\n" % ctx.nonce)))
case("conf-indented-secret-line-check", 78, r"\[DEFAULT\] report_interval", check=True)(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\nreport_interval = 10\n"
                                    "\tbackend_argument: %s\n" % ctx.nonce)))


# -- where oslo.log writes: a FIFO nobody reads hung the launch in create; a
# directory, or a missing or non-directory parent, failed it there with 71.
case("log-file-fifo-nobody-reads", 78, r"--log-file: .*log\.fifo: is a FIFO nobody reads",
     seconds=8)(lambda ctx: Input(["--config-file", ctx.conf, "--log-file",
                                   ctx.fifo("log.fifo")], timeout=20))
case("log-file-is-a-directory", 78, r"--log-file: .*: is a directory")(
    lambda ctx: Input(["--config-file", ctx.conf, "--log-file", ctx.dir]))
case("log-dir-is-a-file-check", 78, r"--log-dir: .*nova-scheduler\.log: its directory",
     check=True)(lambda ctx: Input(["--config-file", ctx.conf, "--log-dir", ctx.conf]))
case("log-file-in-a-missing-directory-from-a-file", 78, r"--log-file: .*does not exist")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\nlog_file = %s/nodir/x.log\n" % ctx.dir)))


# -- the audit log location: check says what the launch does ------------------------

def _audit_at(path_of):
    def build(ctx):
        ctx.set_audit_log(path_of(ctx))
        return Input(["--config-file", ctx.conf])
    return build


for _name, _path, _rule in (
        ("dev-null", lambda ctx: "/dev/null", r"audit log /dev/null is not a regular file"),
        ("proc-fd", lambda ctx: "/proc/self/fd/2", r"audit log /proc/self/fd/2 is a symbolic"),
        ("directory", lambda ctx: ctx.dir,
         r"audit log .* (is not a regular file|Is a directory)"),
        ("under-a-file", lambda ctx: ctx.conf + "/audit.jsonl",
         r"audit log .*nova\.conf/audit\.jsonl cannot be opened"),
        ("symlink", lambda ctx: (os.symlink(ctx.file("victim", b"", 0o600, ctx.outside),
                                            ctx.dir + "/link.jsonl"), ctx.dir + "/link.jsonl")[1],
         r"audit log .*link\.jsonl is a symbolic link")):
    for _mode in ("check", "launch"):
        case("audit-log-%s-%s" % (_name, _mode), 73, _rule, trail=False,
             check=_mode == "check")(_audit_at(_path))


def test_check_writes_nothing_where_the_trail_would_go(make_env, tmp_path):
    """The preflight creates no directory, file or anchor."""
    ctx = Ctx(make_env(), tmp_path)
    where = os.path.join(ctx.dir, "not-yet", "audit.jsonl")
    ctx.set_audit_log(where)
    result = hostile.run([bin_path("safe-launch"), "check", "--config-file", ctx.conf],
                         launch_env(ctx, {}), ctx.run_dir, refused=False)
    assert result.code == 0, result.stderr[-2000:]
    assert not os.path.exists(os.path.dirname(where))


@pytest.mark.parametrize("name", list(CASES))
def test_round3_hostile_input(name, make_env, tmp_path):
    judge(CASES, name, make_env, tmp_path)


def test_a_reload_onto_an_audit_log_the_next_launch_refuses_is_refused(make_env, tmp_path):
    """[safe_launch] audit_log changed to /proc/self/fd/2 before a SIGHUP: the
    reload was accepted ("immutable, applied at a restart"), and the restart
    then refused to start (73).  Now refused, serving on, in the trail."""
    ctx = Ctx(make_env(), tmp_path)
    env = launch_env(ctx, {})
    del env["OS_SAFE_LAUNCH__AUDIT_LOG"]        # the file says where the trail goes

    def during(proc, err_path):
        if not until(lambda: hostile._became_ready(err_path), 60):
            return ["never became ready"]
        ctx.edit_conf("audit_log = %s" % ctx.audit_log, "audit_log = /proc/self/fd/2")
        proc.send_signal(signal.SIGHUP)
        notes = []

        def decided():
            return [r for r in hostile.read_records(ctx.audit_log) or []
                    if r.get("event", "").startswith("reload.")]
        if not until(decided, 20):
            notes.append("no reload decision 20s after SIGHUP")
        elif decided()[0]["event"] != "reload.refused":
            notes.append("%s: %s" % (decided()[0]["event"], decided()[0].get("summary")))
        elif "/proc/self/fd/2 is a symbolic link" not in decided()[0].get("summary", ""):
            notes.append("refused, not naming the rule: %s" % decided()[0].get("summary"))
        if proc.poll() is not None:
            notes.append("exited %s after SIGHUP" % proc.returncode)
        proc.send_signal(signal.SIGTERM)
        return notes
    result = hostile.run([bin_path("nova-scheduler-safe"), "--config-file", ctx.conf], env,
                         ctx.run_dir, timeout=90, during=during, refused=False)
    found = result.notes + hostile.problems(Expect(0, journal=False), result, ctx.nonce,
                                            ctx.audit_log, ctx.audit_log + ".anchor")
    assert not found, "\n".join(found + result.stderr.splitlines()[-5:])
