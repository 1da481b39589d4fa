"""Hostile values against the real nova-scheduler-safe and ``safe-launch check``.

1. Values of options nova declares ``secret=True`` under names that do not
   look secret ([vault] approle_role_id, [cache] backend_argument), given
   through OS_<GROUP>__<OPT>, a config file, a --config-dir file or argv, are
   made to fail validation so that errors quote them: a bad $substitution in
   the secret option itself, the secret carried by $substitution into an
   integer, a host address and a URI option.  The random nonce, and every fragment of it, is
   nowhere in stderr, in the audit trail or in ``check --format json``.
2. Values, file names and variable names holding a newline or another
   control character: every error is one line, none starts a forged line.
3. The same secrets added to the file before a SIGHUP: the refusal quotes none.
"""

import json
import os
import secrets
import signal
import subprocess

import pytest

from tests.functional.conftest import bin_path, unisolated, until

PREFIX = "nova-scheduler-safe:"
FORGED = "nova-scheduler-safe: ready: worker 1 serves RPC topic scheduler"
TIMEOUT = 90


class Nonces:
    """Random identifiers (valid $substitution names) and where each was planted."""

    def __init__(self):
        self.where = {}

    def __call__(self, where):
        nonce = "sl" + secrets.token_hex(8)
        self.where[nonce] = where
        return nonce

    def found_in(self, text):
        return sorted("%s (%s)" % (where, nonce) for nonce, where in self.where.items()
                      if nonce in text)


def run(args, env=None):
    """Run a console script; (exit code, stdout, stderr), bounded."""
    environ = dict(os.environ if env is None else env)
    result = subprocess.run([bin_path(args[0])] + args[1:], capture_output=True, text=True,
                            timeout=TIMEOUT, env=environ, errors="replace")
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result.returncode, result.stdout, result.stderr


def planted(n):
    """(secret values, the carrying lines) for one source: three nonces each.

    The carried secret ends in a backslash sequence: repr() (the int error)
    doubles it, so only its quoted form appears in the message.  The bad
    substitution names a group: "no such group [<nonce>]" quotes only a part.
    """
    carried = n("carried") + "\\q"
    substituted = "%s${%s.opt}" % (n("before $"), n("group after $"))
    return {("vault", "approle_role_id"): carried, ("cache", "backend_argument"): substituted}


# The carried secret in an int error (repr), a host address error (raw) and a
# URI error (rfc3986's repr, URL-encoded).
CARRY = ("[DEFAULT]\nreport_interval = $vault.approle_role_id\n"
         "[vmware]\nhost_ip = $vault.approle_role_id\n"
         "[barbican]\nbarbican_endpoint = $vault.approle_role_id\n")
CARRIED_INTO = {("DEFAULT", "report_interval"), ("vmware", "host_ip"),
                ("barbican", "barbican_endpoint")}


def ini(values):
    sections = {}
    for (group, name), value in values.items():
        sections.setdefault(group, []).append("%s = %s" % (name, value))
    return "".join("\n[%s]\n%s\n" % (g, "\n".join(lines)) for g, lines in sections.items())


def setup(source, make_env, tmp_path, extra=""):
    """(nonces, argv, environ) with the secrets planted in ``source``."""
    n = Nonces()
    values = planted(n)
    environ = dict(os.environ)
    env = make_env(workers=1, extra="\n" + CARRY + (ini(values) if source == "file" else "")
                   + extra)
    argv = ["--config-file", env.conf]
    if source == "env":
        environ.update({"OS_%s__%s" % (g.upper(), o.upper()): v for (g, o), v in values.items()})
    elif source == "config-dir":
        conf_dir = tmp_path / "nova.conf.d"
        conf_dir.mkdir(parents=True)
        (conf_dir / "50-secrets.conf").write_text(ini(values))
        os.chmod(conf_dir / "50-secrets.conf", 0o640)
        argv += ["--config-dir", str(conf_dir)]
    return n, env, argv, environ


@pytest.mark.parametrize("source", ["env", "file", "config-dir"])
def test_declared_secrets_are_not_quoted_by_check(make_env, tmp_path, source):
    n, env, argv, environ = setup(source, make_env, tmp_path)
    code, out, err = run(["safe-launch", "check", "--format", "json"] + argv, environ)
    report = json.loads(out)
    assert code == report["exit_code"] == 78, out
    where = {(e.get("group"), e.get("option")) for e in report["errors"]}
    assert CARRIED_INTO | {("cache", "backend_argument")} <= where, report["errors"]
    assert n.found_in(out + err) == [], out
    code, out, err = run(["safe-launch", "check"] + argv, environ)
    assert code == 78 and "report_interval" in out, out
    assert n.found_in(out + err) == [], out


@pytest.mark.parametrize("source", ["env", "file", "config-dir"])
def test_declared_secrets_are_not_quoted_by_a_launch_nor_in_its_audit_trail(
        make_env, tmp_path, source):
    """enforce = false: the errors are warnings, the launch goes on and fails later
    (nova reads report_interval), so stderr and the audit trail both see them."""
    n, env, argv, environ = setup(source, make_env, tmp_path,
                                  extra="\n[safe_launch]\nenforce = false\n")
    code, out, err = run(["nova-scheduler-safe"] + argv, environ)
    audit = os.path.join(env.dir, "audit.jsonl")
    with open(audit) as f:
        trail = f.read()
    assert "not enforced" in trail and "report_interval" in trail, trail
    assert n.found_in(trail) == [], "in the audit trail"
    assert n.found_in(out + err) == [], err
    # Also enforced: exit 78 before the audit trail is opened.
    n2, env, argv, environ = setup(source, make_env, tmp_path / "enforced")
    code, out, err = run(["nova-scheduler-safe"] + argv, environ)
    assert code == 78 and "report_interval" in err, err
    assert n2.found_in(out + err) == [], err


def test_a_declared_secret_in_argv_is_not_quoted_by_the_guard(make_env):
    n = Nonces()
    env = make_env(workers=1)
    argv = ["--config-file", env.conf, "--vault-approle-role-id", n("--opt value"),
            "--cache-backend-argument=" + n("--opt=value"), "--vault_approle_role_id",
            n("underscores") + "\\q"]
    code, out, err = run(["nova-scheduler-safe"] + argv)
    assert code == 64 and "positional arguments are not accepted" in err, err
    assert n.found_in(out + err) == [], err
    code, out, err = run(["safe-launch", "check", "--format", "json"] + argv)
    assert code == 64 and json.loads(out)["errors"], out
    assert n.found_in(out + err) == [], out


def launcher_lines_are_single(text):
    lines = text.splitlines()
    assert not [x for x in lines if x.startswith(FORGED)], text
    return lines


def test_a_newline_in_a_variable_name_a_value_or_a_file_name_forges_no_line(make_env, tmp_path):
    conf_dir = tmp_path / "conf.d"
    conf_dir.mkdir()
    bad_name = conf_dir / ("x\n%s.conf" % FORGED)
    bad_name.write_text("[DEFAULT]\n")
    os.chmod(bad_name, 0o666)                       # an error naming the file
    env = make_env(workers=1, extra="\n[vmware]\nhost_ip = 10.0.0.1\n  %s\n[DEFAULT]\n"
                   "report_interval = 7\n  %s\n" % (FORGED, FORGED))
    environ = dict(os.environ)
    environ["OS_DEFAULT__NO_SUCH\n%s" % FORGED] = "1"
    environ["OS_DEFAULT__HOST"] = "h\x1b[2K\r%s\u2028%s\x85%s" % (FORGED, FORGED, FORGED)
    environ["OS_DEFAULT__RPC_RESPONSE_TIMEOUT"] = "$no\r%s" % FORGED
    argv = ["--config-file", env.conf, "--config-dir", str(conf_dir)]

    # The console script's /bin/sh trampoline drops a variable whose name is no
    # shell name: the launcher itself, in a plain interpreter, must name it.
    result = subprocess.run(unisolated("nova-scheduler-safe", "safe_launch.cmd.scheduler")
                            + argv, capture_output=True, text=True, timeout=TIMEOUT,
                            env=environ, errors="replace")
    code, err = result.returncode, result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert code == 78, err
    lines = launcher_lines_are_single(err)
    assert all(line.startswith(PREFIX) for line in lines), err
    errors = [x for x in lines if x.startswith(PREFIX + " ")
              and (": " + str(conf_dir) in x or "] " in x)]
    assert any("writable" in x for x in errors), err         # the file
    assert any("host_ip" in x for x in errors), err           # the value
    assert any("OS_DEFAULT__NO_SUCH" in x for x in errors), err   # the variable name
    for line in lines:
        assert line.isprintable(), repr(line)

    code, out, err = run(["safe-launch", "check"] + argv, environ)
    assert code == 78
    for line in launcher_lines_are_single(out):
        assert line.isprintable(), repr(line)


def test_the_audit_key_files_path_is_shown_in_its_error(make_env, tmp_path):
    key = str(tmp_path / "no-such-audit.key")
    env = make_env(workers=1, extra="\n[safe_launch]\naudit_key_file = %s\n" % key)
    code, out, err = run(["nova-scheduler-safe", "--config-file", env.conf])
    assert code == 78 and "audit key file %s cannot be read" % key in err, err


def test_a_secret_added_before_a_reload_is_not_quoted_by_the_refusal(make_env, launch):
    n = Nonces()
    env = make_env(workers=1, extra="\n[safe_launch]\naudit_journal = false\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf])
    assert until(lambda: any("ready:" in x for x in proc.lines(PREFIX)), 30), proc.output()
    with open(env.conf, "a") as f:
        f.write("\n" + CARRY + ini(planted(n)))
    proc.signal(signal.SIGHUP)
    refused = until(lambda: proc.lines(PREFIX + " reload refused"), 15)
    assert refused and "report_interval" in refused[0], proc.output()
    proc.signal(signal.SIGTERM)
    proc.wait(30)
    with open(os.path.join(env.dir, "audit.jsonl")) as f:
        trail = f.read()
    assert "reload.refused" in trail
    assert n.found_in(trail) == [], "in the audit trail"
    assert n.found_in(proc.output()) == [], proc.output()
