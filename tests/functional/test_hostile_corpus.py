"""The project's own hostile-input corpus, run against the real launcher.

Each input is one test id.  For every input, whatever it is, the launch must
end in the expected exit code (64 usage, 73 audit log cannot be created, 78
configuration, 0 clean stop) within its deadline, print each error as one
``nova-scheduler-safe: <phase>: <message>`` line naming the option or file
and the rule, print no traceback and no raw control character, leave no
process running, never show the planted secret (a fresh
``secrets.token_hex`` nonce) on stderr, in the audit trail, its anchor or the
journal, and appear in the audit trail with its ``launch.failed`` record,
the trail still verifying (``safe-launch audit verify``).

The trail is named twice, by the sandbox's nova.conf and by
``OS_SAFE_LAUNCH__AUDIT_LOG`` (which oslo.config reads too), so that a
launch whose files cannot be read still has a place to record its failure.
The journal is a socket at /run/systemd/journal/socket inside a private
mount namespace of the launched process (see hostile.JournalTrap); signal
cases run without that wrapper, whose exec would blur the timing.
"""

import dataclasses
import os
import re
import secrets
import signal
import time

import pytest

from tests.functional import hostile
from tests.functional.conftest import bin_path, until
from tests.functional.hostile import Expect

FORGED = "nova-scheduler-safe: ready: worker 1 serves RPC topic scheduler"


@dataclasses.dataclass
class Input:
    args: list
    env: dict = dataclasses.field(default_factory=dict)
    stdin_pipe: bool = False
    during: object = None         # drives the process: signals
    after: object = None          # extra checks: after(ctx, result) -> [problems]
    timeout: float = 15


class Ctx:
    """One sandbox (prepared sqlite nova, nova.conf, audit trail) and one nonce."""

    def __init__(self, env, tmp_path):
        self.env = env
        self.dir, self.conf = env.dir, env.conf
        self.nonce = secrets.token_hex(16)
        self.outside = str(tmp_path / "outside")       # not an allowed directory
        os.makedirs(self.outside, mode=0o750)
        self.run_dir = str(tmp_path / "run")
        os.makedirs(self.run_dir)
        self.audit_log = os.path.join(self.dir, "audit.jsonl")

    def file(self, name, content, mode=0o640, directory=None):
        path = os.path.join(directory or self.dir, name)
        with open(path, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        os.chmod(path, mode)
        return path

    def with_file(self, content, mode=0o640):
        """nova.conf, then one more file holding ``content``."""
        return ["--config-file", self.conf, "--config-file",
                self.file("hostile.conf", content, mode)]

    def fifo(self, name, directory=None):
        path = os.path.join(directory or self.dir, name)
        os.mkfifo(path, 0o640)
        return path

    def edit_conf(self, old, new):
        with open(self.conf) as f:
            text = f.read()
        assert old in text, old
        with open(self.conf, "w") as f:
            f.write(text.replace(old, new))

    def set_audit_log(self, path):
        self.edit_conf("audit_log = %s" % self.audit_log, "audit_log = %s" % path)
        self.audit_log = path


def corpus():
    """A corpus of cases and its decorator: ``@case(name, exit code, *stderr
    patterns, **expectations)`` over a function building the input."""
    cases = {}

    def case(name, code, *match, **expect):
        def register(build):
            cases[name] = (build, Expect(code, tuple(match), **expect))
            return build
        return register
    return cases, case


CASES, case = corpus()


def base(ctx, *more):
    return ["--config-file", ctx.conf] + list(more)


# -- argv --------------------------------------------------------------------------

case("argv-abbrev-config-f", 64, r"--config-f\b.*did you mean --config-file")(
    lambda ctx: Input(["--config-f", ctx.conf]))
case("argv-abbrev-deb", 64, r"--deb\b.*abbreviat")(lambda ctx: Input(base(ctx, "--deb")))
case("argv-repeat-debug-nodebug", 64, r"--debug.*given 2 times")(
    lambda ctx: Input(base(ctx, "--debug", "--nodebug")))
case("argv-repeat-log-file", 64, r"--log-file.*given 2 times")(
    lambda ctx: Input(base(ctx, "--log-file", ctx.dir + "/a.log", "--log-file",
                           ctx.dir + "/b.log")))
case("argv-newline-forges-ready", 64, r"U\+000A")(
    lambda ctx: Input(base(ctx, "--log-file", "/tmp/x.log\n" + FORGED)))
case("argv-escape-sequence", 64, r"U\+001B")(
    lambda ctx: Input(base(ctx, "--log-file", "/tmp/\x1b[2J\x1b]0;owned\x07x.log")))
case("argv-bidi-override", 64, r"U\+202E")(
    lambda ctx: Input(base(ctx, "--log-file", "/tmp/log\u202egol.conf")))
case("argv-huge-token", 64, r"limit")(
    lambda ctx: Input(base(ctx, "--log-file", "/tmp/" + "a" * 100000)))
case("argv-huge-count", 64, r"limit")(lambda ctx: Input(base(ctx) * 3000))
case("argv-positional", 64, r"scheduler: positional")(
    lambda ctx: Input(base(ctx, "scheduler")))
case("argv-secret-os-password-space", 64, r"--os-password\b.*unknown option")(
    lambda ctx: Input(base(ctx, "--os-password", ctx.nonce)))
case("argv-secret-os-token-inline", 64, r"--os-token\b.*unknown option")(
    lambda ctx: Input(base(ctx, "--os-token=" + ctx.nonce)))
case("argv-secret-declared-opt-space", 64, r"--vault-approle-role-id\b.*unknown option")(
    lambda ctx: Input(base(ctx, "--vault-approle-role-id", ctx.nonce)))
case("argv-secret-url-password", 64, r"--transport-url\b.*unknown option")(
    lambda ctx: Input(base(ctx, "--transport-url",
                           "rabbit://nova:%s@127.0.0.1:5672/" % ctx.nonce)))


# -- --config-file targets -----------------------------------------------------------

def secret_ini(ctx):
    return "[key_manager]\nfixed_key = %s\n" % ctx.nonce


@case("argv-config-fifo", 78, r"FIFO", seconds=5)
def _(ctx):
    return Input(base(ctx, "--config-file", ctx.fifo("fifo.conf")))


@case("argv-config-dev-stdin-pipe", 78, r"/dev/stdin", seconds=5)
def _(ctx):
    return Input(base(ctx, "--config-file", "/dev/stdin"), stdin_pipe=True)


@case("argv-config-proc-self-environ", 78, r"/proc/self/environ")
def _(ctx):
    return Input(base(ctx, "--config-file", "/proc/self/environ"),
                 env={"CORPUS_SECRET": ctx.nonce})


@case("argv-config-directory", 78, r"directory")
def _(ctx):
    os.makedirs(os.path.join(ctx.dir, "a-dir.conf"))
    return Input(base(ctx, "--config-file", os.path.join(ctx.dir, "a-dir.conf")))


@case("argv-config-symlink-outside", 78, r"symlink.*outside the allowed")
def _(ctx):
    target = ctx.file("elsewhere.conf", secret_ini(ctx), directory=ctx.outside)
    link = os.path.join(ctx.dir, "link.conf")
    os.symlink(target, link)
    return Input(base(ctx, "--config-file", link))


case("argv-config-missing", 78, r"nosuch\.conf")(
    lambda ctx: Input(base(ctx, "--config-file", os.path.join(ctx.dir, "nosuch.conf"))))
case("argv-config-mode-0666", 78, r"hostile\.conf.*writable")(
    lambda ctx: Input(ctx.with_file(secret_ini(ctx), mode=0o666)))


@case("argv-config-other-uid", 78, r"hostile\.conf.*owned by uid 65534")
def _(ctx):
    args = ctx.with_file(secret_ini(ctx))
    os.chown(args[-1], 65534, 65534)
    return Input(args)


# -- config file contents ------------------------------------------------------------

case("conf-parse-error-secret-line", 78, r"hostile\.conf")(
    lambda ctx: Input(ctx.with_file("[key_manager]\nfixed_key %s\n" % ctx.nonce)))
case("conf-parse-error-wrapped-password", 78, r"hostile\.conf")(
    lambda ctx: Input(ctx.with_file("[placement]\npassword =\n%s\n" % ctx.nonce)))
case("conf-parse-error-declared-secret", 78, r"hostile\.conf")(
    lambda ctx: Input(ctx.with_file("[vault]\napprole_role_id %s\n" % ctx.nonce)))
case("conf-not-utf8", 78, r"hostile\.conf.*UTF-8")(
    lambda ctx: Input(ctx.with_file(b"[key_manager]\nfixed_key = "
                                    + ctx.nonce.encode() + b"\xff\xfe\n")))
case("conf-nul-bytes", 78, r"hostile\.conf.*NUL")(
    lambda ctx: Input(ctx.with_file("[key_manager]\nfixed_key = %s\0\n" % ctx.nonce)))
case("conf-over-4mib", 78, r"hostile\.conf.*limit")(
    lambda ctx: Input(ctx.with_file(secret_ini(ctx) + "# padding\n" * 420000)))

# A character str.splitlines() ends a line at, inside a password (pasted
# text): oslo.config does not end the line there, so neither may the
# launcher: the file is accepted as oslo.config reads it, and the password
# (all of it) is never shown.
for _name, _char in (("vt", "\v"), ("ff", "\f"), ("fs", "\x1c"), ("nel", "\x85"),
                     ("ls", "\u2028")):
    case("conf-char-%s-inside-line" % _name, 0, trail=False, check=True)(
        lambda ctx, _char=_char: Input(ctx.with_file(
            "[placement]\npassword = pw%s%s\n" % (_char, ctx.nonce))))

# Long text that reaches an error message (and so the masker): bounded time.
case("conf-long-bad-value", 78, r"report_interval")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\nreport_interval = %s\n" % ("a" * 50000))))
case("conf-long-unparseable-line", 78, r"hostile\.conf")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\n%s\n" % ("a" * 50000))))
case("conf-typo-in-known-section", 78, r"\[scheduler\] workerz")(
    lambda ctx: Input(ctx.with_file("[scheduler]\nworkerz = 2\n")))
case("conf-unknown-section-check-warns", 0, r"nosuchsection", trail=False, check=True)(
    lambda ctx: Input(ctx.with_file("[nosuchsection]\nfoo = %s\n" % ctx.nonce)))
case("conf-config-source", 78, r"config_source")(
    lambda ctx: Input(ctx.with_file(
        "[DEFAULT]\nconfig_source = remote\n[remote]\ndriver = remote_file\n"
        "uri = http://corpus:%s@127.0.0.1:9/nova.conf\n" % ctx.nonce)))
case("conf-declared-secret-nonsecret-name-bad-value", 78, r"\[vault\] approle_role_id")(
    lambda ctx: Input(ctx.with_file("[vault]\napprole_role_id = $x%s\n" % ctx.nonce)))
case("conf-cli-opt-bad-value-debug-maybe", 78, r"debug")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\ndebug = maybe\n")))
case("conf-continuation-forges-ready", 78, r"report_interval")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\nreport_interval = soon\n  %s\n" % FORGED)))


# -- --config-dir ------------------------------------------------------------------

def conf_dir(ctx, mode=0o750):
    path = os.path.join(ctx.dir, "nova.conf.d")
    os.makedirs(path)
    os.chmod(path, mode)
    return path


@case("dir-fifo-entry", 78, r"FIFO", seconds=5)
def _(ctx):
    d = conf_dir(ctx)
    ctx.fifo("50-fifo.conf", d)
    return Input(base(ctx, "--config-dir", d))


@case("dir-symlink-outside", 78, r"symlink.*outside the allowed")
def _(ctx):
    d = conf_dir(ctx)
    os.symlink(ctx.file("elsewhere.conf", secret_ini(ctx), directory=ctx.outside),
               os.path.join(d, "50-link.conf"))
    return Input(base(ctx, "--config-dir", d))


@case("dir-non-conf-file-ignored-check", 0, trail=False, check=True)
def _(ctx):
    d = conf_dir(ctx)
    ctx.file("notes.txt", b"garbage " + ctx.nonce.encode() + b"\0\xff\n", directory=d)
    return Input(base(ctx, "--config-dir", d))


@case("dir-world-writable", 78, r"nova\.conf\.d.*writable by others")
def _(ctx):
    d = conf_dir(ctx, mode=0o777)
    ctx.file("50-ok.conf", "[DEFAULT]\nreport_interval = 2\n", directory=d)
    return Input(base(ctx, "--config-dir", d))


# -- environment -------------------------------------------------------------------

# A declared secret with a name that does not look secret, from the
# environment, whose value oslo.config's substitution error would quote.
case("env-secret-bad-type", 78, r"\[vault\] approle_role_id")(
    lambda ctx: Input(base(ctx), env={"OS_VAULT__APPROLE_ROLE_ID": ctx.nonce + "$nosuch"}))
case("env-newline-forges-ready", 78, r"\[scheduler\] workers")(
    lambda ctx: Input(base(ctx), env={"OS_SCHEDULER__WORKERS": "abc\n" + FORGED}))
case("env-typo-variable", 78, r"OS_SCHEDULER__WORKERZ")(
    lambda ctx: Input(base(ctx), env={"OS_SCHEDULER__WORKERZ": "2"}))
case("env-disable-eventlet-patching-maybe", 78, r"OS_NOVA_DISABLE_EVENTLET_PATCHING")(
    lambda ctx: Input(base(ctx), env={"OS_NOVA_DISABLE_EVENTLET_PATCHING": "maybe"}))
case("env-pythoninspect-usage-error", 64, r"--config-f\b", seconds=5)(
    lambda ctx: Input(["--config-f", ctx.conf], env={"PYTHONINSPECT": "1"},
                      stdin_pipe=True))


# -- $substitution -----------------------------------------------------------------

case("subst-secret-into-invalid-value", 78, r"report_interval")(
    lambda ctx: Input(ctx.with_file("[vault]\napprole_role_id = %s\n[DEFAULT]\n"
                                    "report_interval = ${vault.approle_role_id}\n"
                                    % ctx.nonce)))
case("subst-env-secret-into-invalid-value", 78, r"report_interval")(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\nreport_interval = ${vault.approle_role_id}\n"),
                      env={"OS_VAULT__APPROLE_ROLE_ID": ctx.nonce}))
case("subst-nosuch-inside-secret", 78, r"\[key_manager\] fixed_key")(
    lambda ctx: Input(ctx.with_file("[key_manager]\nfixed_key = abc${x%s}\n" % ctx.nonce)))
case("subst-recursion", 78, r"\[vault\] approle")(
    lambda ctx: Input(ctx.with_file("[vault]\napprole_role_id = %s$approle_secret_id\n"
                                    "approle_secret_id = $approle_role_id\n" % ctx.nonce)))


# -- audit paths -------------------------------------------------------------------

def untouched(path, content=b""):
    def after(ctx, result):
        with open(path, "rb") as f:
            return [] if f.read() == content else ["%s was written through" % path]
    return after


@case("audit-log-world-writable-dir", 73, r"audit.*writable", trail=False)
def _(ctx):
    d = os.path.join(ctx.outside, "ww")
    os.makedirs(d)
    os.chmod(d, 0o777)
    ctx.set_audit_log(os.path.join(d, "audit.jsonl"))

    def after(ctx, result):
        return ["audit trail created in a world-writable directory"] \
            if os.path.exists(ctx.audit_log) else []
    return Input(base(ctx), after=after)


@case("audit-log-symlink", 73, r"audit.*symbolic link", trail=False)
def _(ctx):
    target = ctx.file("victim", b"", mode=0o600, directory=ctx.outside)
    link = os.path.join(ctx.dir, "audit-link.jsonl")
    os.symlink(target, link)
    ctx.set_audit_log(link)
    return Input(base(ctx), after=untouched(target))


@case("audit-log-fifo", 73, r"audit.*(FIFO|not a regular file)", trail=False, seconds=5)
def _(ctx):
    ctx.set_audit_log(ctx.fifo("audit-fifo.jsonl"))
    return Input(base(ctx))


@case("audit-log-directory", 73, r"audit.*(directory|not a regular file)", trail=False)
def _(ctx):
    path = os.path.join(ctx.dir, "audit-dir.jsonl")
    os.makedirs(path)
    ctx.set_audit_log(path)
    return Input(base(ctx))


@case("audit-log-missing-dir-under-file", 73, r"audit.*plain", trail=False)
def _(ctx):
    ctx.file("plain", b"")
    ctx.set_audit_log(os.path.join(ctx.dir, "plain", "sub", "audit.jsonl"))
    return Input(base(ctx))


@case("audit-log-relative", 73, r"audit log rel-audit\.jsonl is not an absolute path",
      trail=False)
def _(ctx):
    # Relative to whatever directory the launch starts in: refused, never
    # created there (the launcher's cwd here is the test's).
    ctx.set_audit_log("rel-audit.jsonl")

    def after(ctx, result):
        return ["relative audit trail created in %s" % os.getcwd()] \
            if os.path.exists("rel-audit.jsonl") else []
    return Input(base(ctx), after=after)


@case("audit-key-too-short", 78, r"short\.key.*(fewer|short)", trail=False)
def _(ctx):
    key = ctx.file("short.key", ctx.nonce[:8] + "\n", mode=0o600)
    return Input(ctx.with_file("[safe_launch]\naudit_key_file = %s\n" % key))


@case("audit-key-fifo", 78, r"key\.fifo", trail=False, seconds=5)
def _(ctx):
    key = ctx.fifo("key.fifo")
    os.chmod(key, 0o600)
    return Input(ctx.with_file("[safe_launch]\naudit_key_file = %s\n" % key))


# oslo.log follows symlinks: whoever can put one where the log goes chooses
# the file a root service appends to.
@case("log-dir-world-writable", 78, r"--log-dir: .*wwlog.* writable by others")
def _(ctx):
    d = os.path.join(ctx.outside, "wwlog")
    os.makedirs(d)
    os.chmod(d, 0o777)
    return Input(ctx.with_file("[DEFAULT]\nlog_dir = %s\n" % d))


@case("log-file-foreign-symlink-in-sticky-dir", 78, r"--log-file: .*not owned by root")
def _(ctx):
    if os.geteuid() != 0:
        pytest.skip("giving a symlink to another user needs root")
    d = os.path.join(ctx.outside, "sticky")
    os.makedirs(d)
    os.chmod(d, 0o1777)
    victim = ctx.file("victim", b"", mode=0o600, directory=ctx.outside)
    link = os.path.join(d, "nova-scheduler.log")
    os.symlink(victim, link)
    os.lchown(link, 65534, 65534)
    return Input(ctx.with_file("[DEFAULT]\nlog_file = %s\n" % link), after=untouched(victim))


# Whoever can replace the key can MAC records of their own: the key gets the
# trail's location rules (the trail opens unkeyed, the launch stops 78).
@case("audit-key-relative", 78, r"audit key file rel\.key is not an absolute path",
      trail=False)
def _(ctx):
    ctx.file("rel.key", ctx.nonce * 2 + "\n", mode=0o600)
    return Input(ctx.with_file("[safe_launch]\naudit_key_file = rel.key\n"))


@case("audit-key-world-writable-dir", 78, r"ww\.key is refused: directory .* writable",
      trail=False)
def _(ctx):
    d = os.path.join(ctx.outside, "wwkey")
    os.makedirs(d)
    os.chmod(d, 0o777)
    key = ctx.file("ww.key", ctx.nonce * 2 + "\n", mode=0o600, directory=d)
    return Input(ctx.with_file("[safe_launch]\naudit_key_file = %s\n" % key))


@case("audit-key-foreign-owner", 78, r"nobody\.key is owned by uid", trail=False)
def _(ctx):
    if os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    key = ctx.file("nobody.key", ctx.nonce * 2 + "\n", mode=0o600)
    os.chown(key, 65534, 65534)
    return Input(ctx.with_file("[safe_launch]\naudit_key_file = %s\n" % key))


# -- configuration errors are 78, not 75 ---------------------------------------------

@case("cfg-no-database-connection", 78, r"\[database\] connection", seconds=30)
def _(ctx):
    ctx.edit_conf("connection = sqlite:///%s\n" % ctx.env.cell_db, "")
    return Input(base(ctx), timeout=60)


case("cfg-transport-url-unknown-driver", 78, r"transport_url", seconds=30)(
    lambda ctx: Input(ctx.with_file("[DEFAULT]\ntransport_url = nosuch://\n"), timeout=60))
case("cfg-database-url-unparseable", 78, r"\[database\] connection", seconds=30)(
    lambda ctx: Input(ctx.with_file("[database]\nconnection = not a url %s\n" % ctx.nonce),
                      timeout=60))


# -- signals -------------------------------------------------------------------------

def sigterm_after(delay):
    def during(proc, err_path):
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
    return during


def ready(err_path):
    return hostile._became_ready(err_path)


def sigint_after_ready(proc, err_path):
    if not until(lambda: ready(err_path), 60):
        return ["never became ready"]
    os.killpg(proc.pid, signal.SIGINT)          # what a terminal's Ctrl-C does


def sighup_with_fifo(ctx):
    def during(proc, err_path):
        if not until(lambda: ready(err_path), 60):
            return ["never became ready"]
        notes = []
        count = max([r[3] for r in ctx.env.services("nova-scheduler")] or [0])
        os.rename(ctx.conf, ctx.conf + ".orig")
        os.mkfifo(ctx.conf, 0o640)
        proc.send_signal(signal.SIGHUP)

        def refused():
            records = hostile.read_records(ctx.audit_log) or []
            return any(r.get("event") == "reload.refused" for r in records)
        if not until(refused, 10):
            notes.append("no reload.refused record 10s after SIGHUP")
        if proc.poll() is not None:
            return notes + ["exited %s after SIGHUP" % proc.returncode]
        if not until(lambda: max([r[3] for r in ctx.env.services("nova-scheduler")]
                                 or [0]) > count, 15):
            notes.append("services row report_count did not advance after SIGHUP "
                         "(not serving)")
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except Exception:
            notes.append("SIGTERM did not stop it within 15s")
        else:
            if time.monotonic() - start > 15:
                notes.append("SIGTERM took %.1fs" % (time.monotonic() - start))
        return notes
    return during


# Before main() runs (the interpreter and site: 60-280 ms on these loaded
# machines) no handler can exist; from main() on, a stop is clean
# (tests/functional/test_early_signals.py measures the boundary).
case("sig-term-at-150ms", 0, journal=False, trail=False)(   # may be before any launch
    lambda ctx: Input(base(ctx), during=sigterm_after(0.15), timeout=30))
case("sig-term-at-300ms", 0, journal=False)(
    lambda ctx: Input(base(ctx), during=sigterm_after(0.3), timeout=30))
case("sig-int-after-ready", 0, journal=False)(
    lambda ctx: Input(base(ctx), during=sigint_after_ready, timeout=90))
case("sig-hup-config-replaced-by-fifo", 0, journal=False)(
    lambda ctx: Input(base(ctx), during=sighup_with_fifo(ctx), timeout=90))


# -- the runner ------------------------------------------------------------------------

def launch_env(ctx, extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k not in ("PYTHONINSPECT", "NOTIFY_SOCKET")}
    env["OS_SAFE_LAUNCH__AUDIT_LOG"] = ctx.audit_log
    env.update(extra)
    return env


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(name, make_env, tmp_path):
    judge(CASES, name, make_env, tmp_path)


def judge(cases, name, make_env, tmp_path):
    """Run the case ``name`` of ``cases`` and assert its expectation (every corpus's)."""
    build, expect = cases[name]
    ctx = Ctx(make_env(), tmp_path)
    given = build(ctx)
    if expect.check:
        argv = [bin_path("safe-launch"), "check", "--format", "json"] + given.args
    else:
        argv = [bin_path("nova-scheduler-safe")] + given.args
    trap = None
    if expect.journal and hostile.JournalTrap.usable():
        trap = hostile.JournalTrap(str(tmp_path))
    result = hostile.run(argv, launch_env(ctx, given.env), ctx.run_dir, timeout=given.timeout,
                         stdin_pipe=given.stdin_pipe, journal=trap, during=given.during,
                         refused=expect.code != 0)
    found = [hostile.redact(n, ctx.nonce) for n in result.notes]
    found += hostile.problems(expect, result, ctx.nonce, ctx.audit_log,
                              ctx.audit_log + ".anchor")
    if expect.seconds and expect.code != 0 and result.elapsed > expect.seconds:
        found.append("took %.1fs (limit %ds)" % (result.elapsed, expect.seconds))
    if given.after is not None:
        found += given.after(ctx, result)
    tail = [hostile.redact(x, ctx.nonce, 400) for x in result.stderr.splitlines()[-6:]]
    assert not found, "%s (exit %s, %.1fs, journal %s):\n  %s\nstderr tail:\n  %s" % (
        name, result.code, result.elapsed,
        "%d datagrams" % len(result.journal) if result.journal_checked else "not checked",
        "\n  ".join(found), "\n  ".join(tail))


def test_corpus_is_large_enough():
    assert len(CASES) >= 40 and len(set(CASES)) == len(CASES)
    assert all(re.match(r"^[a-z0-9-]+$", name) for name in CASES)


def test_journal_trap_receives_the_launchers_records(make_env, tmp_path):
    """The journal check above is real: the unpatched sink sends to the trap."""
    if not hostile.JournalTrap.usable():
        pytest.skip("needs root, unshare and /run/systemd without a journal socket")
    ctx = Ctx(make_env(), tmp_path)
    args = ctx.with_file("[DEFAULT]\ntransport_url = nosuch://\n")   # fails in create
    trap = hostile.JournalTrap(str(tmp_path))
    result = hostile.run([bin_path("nova-scheduler-safe")] + args, launch_env(ctx, {}),
                         ctx.run_dir, journal=trap)
    assert result.code not in (None, 0), result.stderr
    events = [re.search(rb"^AUDIT_EVENT=(\S+)$", d, re.M) for d in result.journal]
    assert b"launch.started" in [m.group(1) for m in events if m], result.journal[:2]
