"""Process hygiene, as the kernel reports it for a served launch (issue 14).

Every serving process (master and each worker) is read from /proc: Uid/Gid,
NoNewPrivs, Umask (status), the core limit (limits) and its descriptors
(fd).  The refusals are real launches with real environments, a real
system account and a throwaway venv whose .pth and module files the test
controls (the shared venv is never touched).
"""

import contextlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile

import pytest

from tests.functional.conftest import bin_path, need, NovaEnv, until

PREFIX = "nova-scheduler-safe:"
ACCOUNT = "safe-launch-test"


def environ(**extra):
    """The test's environment without the functional suite's allow_root."""
    env = {k: v for k, v in os.environ.items() if k != "OS_SAFE_LAUNCH__ALLOW_ROOT"}
    env.update(extra)
    return env


def status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def core_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        line = next(line for line in f if line.startswith("Max core file size"))
    return line.split()[4:6]


def fd_targets(pid):
    directory = "/proc/%d/fd" % pid
    targets = []
    for name in os.listdir(directory):
        try:
            targets.append(os.readlink(os.path.join(directory, name)))
        except OSError:
            pass
    return targets


def serving(proc, workers):
    """The master and its workers once the service is ready, else None."""
    if not any("ready:" in line for line in proc.lines(PREFIX)):
        return None
    children = proc.children()
    return [proc.pid] + children if len(children) == workers else None


def records(path, event):
    with open(path) as f:
        found = [json.loads(line) for line in f if line.strip()]
    return [r["data"] for r in found if r.get("event") == event]


def assert_hardened(pids, uid, gid):
    for pid in pids:
        st = status(pid)
        assert st["Uid"].split() == [str(uid)] * 4, (pid, st["Uid"])
        assert st["Gid"].split() == [str(gid)] * 4, (pid, st["Gid"])
        assert st["NoNewPrivs"] == "1", pid
        assert st["Umask"] == "0027", pid
        assert core_limit(pid) == ["0", "0"], pid


def test_a_served_launch_as_root_allowed_is_hardened_in_master_and_workers(
        make_env, launch, tmp_path):
    env = make_env(workers=2)
    leaked = tmp_path / "leaked-secret"
    leaked.write_text("inherited")
    fd = os.open(leaked, os.O_RDONLY)
    try:
        proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                      env=environ(), pass_fds=(fd,))
    finally:
        os.close(fd)
    pids = until(lambda: serving(proc, 2), 120)
    assert pids, proc.output()
    assert_hardened(pids, 0, 0)
    for pid in pids:
        assert str(leaked) not in fd_targets(pid), pid
    line = next(line for line in proc.lines(PREFIX) if "hygiene:" in line)
    assert "as root" in line and "root allowed" in line, line
    hygiene = records(os.path.join(env.dir, "audit.jsonl"), "hygiene.applied")[0]["decision"]
    assert fd in hygiene["inherited_fds"] and hygiene["closed_fds"] >= 1, hygiene
    assert (hygiene["umask"], hygiene["no_new_privs"], hygiene["dumpable"]) == (
        "0027", True, False)
    imports = records(os.path.join(env.dir, "audit.jsonl"), "imports.checked")[0]["decision"]
    assert imports["modules"] > 1000 and not imports["problems"], imports


def account():
    """The system account the service_user test switches to (created if missing)."""
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        need(os.geteuid() == 0 and shutil.which("useradd"), "no root or useradd")
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", ACCOUNT], capture_output=True, timeout=60)
        return pwd.getpwnam(ACCOUNT)


@contextlib.contextmanager
def traversable(paths):
    """Every ancestor of ``paths`` searchable by others, for the test's duration.

    The interpreter may live under a 0700 home (/root/.pyenv here); the
    account must import from it.  Modes are restored on the way out.
    """
    changed = {}
    for path in paths:
        path = os.path.realpath(path)
        while path != "/":
            path = os.path.dirname(path)
            mode = os.stat(path).st_mode
            if path not in changed and not mode & stat.S_IXOTH:
                changed[path] = stat.S_IMODE(mode)
                os.chmod(path, stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for path, mode in changed.items():
            os.chmod(path, mode)


def chown_tree(top, uid, gid):
    for directory, dirs, files in os.walk(top):
        for name in [directory] + [os.path.join(directory, n) for n in dirs + files]:
            os.chown(name, uid, gid)


def test_root_with_service_user_serves_as_that_account_everywhere(nova_template, launch):
    user = account()
    top = tempfile.mkdtemp(prefix="safe-launch-user-")
    try:
        env = NovaEnv(str(nova_template), top, workers=2, extra=(
            "\n[safe_launch]\nallow_root = false\nservice_user = %s\n" % ACCOUNT))
        chown_tree(top, user.pw_uid, user.pw_gid)
        paths = [p for p in sysconfig.get_paths().values()] + [sys.executable, top]
        with traversable(paths):
            proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                          env=environ())
            pids = until(lambda: serving(proc, 2), 120)
            assert pids, proc.output()
            assert_hardened(pids, user.pw_uid, user.pw_gid)
            assert any("as %s" % ACCOUNT in line and "(switched)" in line
                       for line in proc.lines(PREFIX)), proc.output()
            assert until(lambda: env.services("nova-scheduler"), 60)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_root_without_service_user_or_allow_root_is_refused_on_the_record(make_env, launch):
    env = make_env(extra="\n[safe_launch]\nallow_root = false\n")
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf], env=environ())
    assert proc.wait(60) == 78, proc.output()
    lines = [line for line in proc.lines(PREFIX) if "running as root (euid 0) is refused" in line]
    assert lines and "service_user" in lines[0] and "allow_root" in lines[0], proc.output()
    failed = records(os.path.join(env.dir, "audit.jsonl"), "launch.failed")
    assert failed and failed[0]["phase"] == "hygiene", failed
    assert env.services() == []


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_root_may_still_ask_for_help_and_version(flag):
    """They print and exit before anything is read or served."""
    result = subprocess.run([bin_path("nova-scheduler-safe"), flag], capture_output=True,
                            text=True, timeout=120, env=environ(), stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("safe_launch" if flag == "--version" else "usage:") in result.stdout, result.stdout


def test_a_file_the_service_user_cannot_read_is_refused_naming_it(make_env, launch, tmp_path):
    """check and the launch alike; the account can write its audit trail (one
    it could not write is refused first, 73, by both)."""
    user = account()
    trail = tempfile.mkdtemp(prefix="safe-launch-user-audit-")
    try:
        os.chown(trail, user.pw_uid, user.pw_gid)
        env = make_env(extra="\n[safe_launch]\nservice_user = %s\naudit_log = %s\n"
                       % (ACCOUNT, os.path.join(trail, "audit.jsonl")))
        os.chmod(env.conf, 0o600)
        with traversable([trail]):
            result = run_check(["--config-file", env.conf], environ())
            assert result.returncode == 78, result.stdout + result.stderr
            assert "service_user = %s cannot read %s" % (ACCOUNT, env.conf) in result.stdout
            proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                          env=environ())
            assert proc.wait(60) == 78, proc.output()
            assert any("service_user = %s cannot read %s" % (ACCOUNT, env.conf) in line
                       for line in proc.lines(PREFIX)), proc.output()
    finally:
        shutil.rmtree(trail, ignore_errors=True)


def run_check(args, env, python=None):
    argv = [bin_path("safe-launch"), "check", "--format", "json"] + args
    if python:
        argv = [python, "-I", "-c", "import sys; sys.argv[0] = 'safe-launch'; "
                "from safe_launch.cmd.admin import main; main()"] + argv[1:]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)


def errors(result):
    return [e["message"] for e in json.loads(result.stdout)["errors"]]


def marker_site(tmp_path):
    """A PYTHONPATH directory whose sitecustomize.py leaves a marker if it ever runs."""
    site = tmp_path / "site"
    site.mkdir()
    marker = tmp_path / "sitecustomize-ran"
    (site / "sitecustomize.py").write_text("open(%r, 'w').close()\n" % str(marker))
    return str(site), marker


def test_pythonpath_is_refused_and_its_sitecustomize_never_runs(make_env, launch, tmp_path):
    env = make_env()
    site, marker = marker_site(tmp_path)
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                  env=environ(PYTHONPATH=site))
    assert proc.wait(60) == 78, proc.output()
    assert any("environment: PYTHONPATH is set" in line and "allowed_environment" in line
               for line in proc.lines(PREFIX)), proc.output()
    # Allowed by name, the launch goes on: the isolated interpreter ignored it.
    result = run_check(["--config-file", env.conf],
                       environ(PYTHONPATH=site, OS_SAFE_LAUNCH__ALLOWED_ENVIRONMENT="PYTHONPATH",
                               OS_SAFE_LAUNCH__ALLOW_ROOT="true"))
    assert result.returncode == 0, result.stdout + result.stderr
    decisions = {d["event"]: d["decision"] for d in json.loads(result.stdout)["decisions"]}
    assert decisions["hygiene.applied"]["environment_allowed"] == ["PYTHONPATH"]
    assert not marker.exists()
    # The instrument works: a plain interpreter runs it.
    subprocess.run([sys.executable, "-c", "pass"], env=environ(PYTHONPATH=site), timeout=60)
    assert marker.exists()


def test_ld_preload_of_a_file_others_can_write_is_refused(make_env, tmp_path):
    env = make_env()
    library = tmp_path / "inject.so"
    library.write_bytes(b"")
    os.chmod(library, 0o666)
    result = run_check(["--config-file", env.conf], environ(
        LD_PRELOAD=str(library), OS_SAFE_LAUNCH__ALLOW_ROOT="true"))
    assert result.returncode == 78, result.stdout + result.stderr
    assert any(m.startswith("environment: LD_PRELOAD: %s is writable by group and others"
                            % library) for m in errors(result)), result.stdout


@pytest.fixture(scope="module")
def throwaway_venv(tmp_path_factory):
    """A venv of its own that reaches the shared venv's packages through a .pth."""
    top = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(top)], check=True,
                   timeout=120)
    site = subprocess.run([str(top / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    shared = sysconfig.get_paths()["purelib"]
    with open(os.path.join(site, "00-shared.pth"), "w") as f:
        f.write("import site; site.addsitedir(%r)\n" % shared)
    return str(top / "bin" / "python"), site


def test_a_pth_adding_a_directory_others_can_write_is_refused_naming_it(
        make_env, throwaway_venv, tmp_path):
    python, site = throwaway_venv
    public = tmp_path / "public"
    public.mkdir()
    os.chmod(public, 0o777)
    pth = os.path.join(site, "public.pth")
    with open(pth, "w") as f:
        f.write(str(public) + "\n")
    try:
        result = run_check(["--config-file", make_env().conf], environ(
            OS_SAFE_LAUNCH__ALLOW_ROOT="true"), python=python)
    finally:
        os.unlink(pth)
    assert result.returncode == 78, result.stdout + result.stderr
    assert ("sys.path directory %s is writable by group and others (mode 0777)" % public
            in errors(result)[0]), result.stdout


def test_a_loaded_module_file_others_can_write_is_refused_naming_it(
        make_env, throwaway_venv, launch):
    python, site = throwaway_venv
    module = os.path.join(site, "planted.py")
    with open(module, "w") as f:
        f.write("# loaded at startup by planted.pth\n")
    os.chmod(module, 0o666)
    pth = os.path.join(site, "planted.pth")
    with open(pth, "w") as f:
        f.write("import planted\n")
    env = make_env()
    try:
        # "all": planted is neither nova's, oslo's nor safe_launch's, whose files
        # the default ("service") judges; its directory is judged either way.
        proc = launch([python, "-I", "-c", "import sys; sys.argv[0] = %r; from "
                       "safe_launch.cmd.scheduler import main; main()"
                       % bin_path("nova-scheduler-safe"), "--config-file", env.conf],
                      env=dict(os.environ, OS_SAFE_LAUNCH__IMPORT_PATH_CHECK="all"))
        assert proc.wait(120) == 78, proc.output()
    finally:
        os.unlink(pth)
    lines = [line for line in proc.lines(PREFIX) if "module file %s" % module in line]
    assert lines and "writable by group and others (mode 0666)" in lines[0], proc.output()
    assert "import_path_check" in lines[0]
    assert env.services() == []
