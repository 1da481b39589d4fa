"""The hygiene policy on a fake kernel; the kernel reads on fake /proc trees;
the console-script trampoline on a fake interpreter."""

import dataclasses
import os
import pwd
import shutil
import stat
import subprocess
import types

import pytest

from safe_launch import hygiene
from safe_launch import importpaths
from safe_launch import procctl
from safe_launch import spec as specs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = pwd.getpwnam("nobody")


def st(mode=0o755, uid=0, kind=stat.S_IFDIR):
    return os.stat_result((kind | mode, 1, 1, 1, uid, 0, 0, 0, 0, 0))


class FakeKernel:
    """Records every change the policy asks for, in order."""

    def __init__(self, euid=0, stats=None, unreadable=()):
        self.calls = []
        self.uid, self.gid = euid, 0
        self.stats = stats or {}
        self.unreadable = set(unreadable)
        self.core, self.dump, self.nnp = (-1, -1), True, False

    def pid(self):
        return 4242

    def euid(self):
        return self.uid

    def egid(self):
        return self.gid

    def groups(self):
        return ()

    def set_umask(self, mask):
        self.calls.append(("umask", mask))

    def close_fds(self, fds):
        self.calls.append(("close", tuple(fds)))

    def forbid_core_dumps(self):
        self.calls.append(("no core",))
        self.core, self.dump = (0, 0), False

    def set_no_new_privs(self):
        self.calls.append(("nnp",))
        self.nnp = True

    def switch_user(self, name, uid, gid):
        self.calls.append(("switch", name, uid, gid))
        self.uid, self.gid = uid, gid

    def stat(self, path):
        if path not in self.stats:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.stats[path]

    def readable(self, path, directory=False):
        return path not in self.unreadable

    def core_limit(self):
        return self.core

    def dumpable(self):
        return self.dump

    def status(self):
        return {"NoNewPrivs": "1" if self.nnp else "0"}


def run(kernel=None, environ=None, inherited=(0, 1, 2), records=(), spec=specs.NOVA_SCHEDULER,
        sys_path=(), **settings):
    kernel = kernel or FakeKernel()
    decision = hygiene.apply(hygiene.Settings(**settings), environ or {}, inherited,
                             list(records), spec, kernel, list(sys_path))
    return decision, kernel


def test_root_is_refused_without_service_user_or_allow_root():
    decision, kernel = run()
    assert not decision.ok and decision.identity == "refused"
    assert "running as root (euid 0) is refused" in decision.problems[0]
    assert "service_user" in decision.problems[0] and "allow_root" in decision.problems[0]
    assert not any(call[0] == "switch" for call in kernel.calls)


def test_allow_root_serves_as_root_hardened_umask_first():
    decision, kernel = run(allow_root=True)
    assert decision.ok and decision.identity == "root allowed"
    assert kernel.calls[0] == ("umask", 0o027)
    assert ("no core",) in kernel.calls and ("nnp",) in kernel.calls
    assert decision.status() == "as root, nnp, umask 0027, no core"


def test_service_user_switch_comes_before_core_dumps_and_no_new_privs():
    decision, kernel = run(service_user="nobody")
    names = [call[0] for call in kernel.calls]
    assert names == ["umask", "close", "switch", "no core", "nnp"]
    assert kernel.calls[2] == ("switch", "nobody", NOBODY.pw_uid, NOBODY.pw_gid)
    assert (decision.identity, decision.user, decision.uid) == ("switched", "nobody",
                                                                NOBODY.pw_uid)


def test_a_file_the_service_user_cannot_read_is_named():
    record = types.SimpleNamespace(path="/etc/nova/nova.conf", kind="config-file")
    decision, _ = run(FakeKernel(unreadable=[record.path]), records=[record],
                      service_user="nobody")
    assert decision.problems == ("[safe_launch] service_user = nobody cannot read "
                                 "/etc/nova/nova.conf: make it readable by the account",)


def test_safe_launchs_own_code_the_service_user_cannot_read_is_named():
    """An editable install is not on sys.path: its package directory is checked too,
    since the launcher goes on importing its phases as the account."""
    own = os.path.dirname(os.path.abspath(hygiene.__file__))
    decision, _ = run(FakeKernel(unreadable=[own]), service_user="nobody")
    assert decision.problems == ("[safe_launch] service_user = nobody cannot read %s "
                                 "(safe_launch's own code): the launcher could not go on "
                                 "as the account" % own,)


def test_service_user_root_still_needs_allow_root():
    decision, _ = run(service_user="root")
    assert decision.identity == "refused"


def test_a_non_root_launcher_cannot_become_another_service_user():
    decision, kernel = run(FakeKernel(euid=NOBODY.pw_uid + 1), service_user="nobody")
    assert "cannot switch to it" in decision.problems[0]
    assert not any(call[0] == "switch" for call in kernel.calls)


def test_an_unknown_service_user_is_refused():
    decision, _ = run(service_user="no-such-user-here")
    assert any("no such user 'no-such-user-here'" in p for p in decision.problems)


@pytest.mark.parametrize("environ,closed,kept", [
    ({}, (3, 4, 7, 9), ()),
    ({"LISTEN_PID": "4242", "LISTEN_FDS": "2"}, (7, 9), (3, 4)),
    ({"LISTEN_PID": "1", "LISTEN_FDS": "2"}, (3, 4, 7, 9), ()),
    ({"LISTEN_PID": "4242", "LISTEN_FDS": "x"}, (3, 4, 7, 9), ()),
])
def test_inherited_descriptors_are_closed_except_systemds(environ, closed, kept):
    decision, kernel = run(environ=environ, inherited=(0, 1, 2, 3, 4, 7, 9), allow_root=True)
    assert ("close", closed) in kernel.calls
    assert (decision.closed_fds, decision.kept_fds) == (len(closed), kept)


def test_closing_can_be_relaxed():
    decision, kernel = run(inherited=(0, 1, 2, 5), allow_root=True, close_inherited_fds=False)
    assert decision.closed_fds == 0 and not any(c[0] == "close" for c in kernel.calls)


@pytest.mark.parametrize("name", hygiene.CODE_VARIABLES)
def test_python_code_variables_are_refused_unless_allowed(name):
    decision, _ = run(environ={name: "x"}, allow_root=True)
    assert decision.problems[0].startswith("environment: %s is set" % name)
    assert decision.where[0]["option"] == "allowed_environment"
    decision, _ = run(environ={name: "x"}, allow_root=True, allowed_environment=(name,))
    assert decision.ok and decision.environment_allowed == (name,)
    assert run(environ={name: ""}, allow_root=True)[0].ok      # empty: Python ignores it


@pytest.mark.parametrize("name,value,stats,why", [
    ("LD_PRELOAD", "/lib/ok.so", {"/lib/ok.so": st(0o755, 0, stat.S_IFREG)}, None),
    ("LD_PRELOAD", "/lib/ok.so /lib/b.so:/lib/ok.so",
     {"/lib/ok.so": st(0o755), "/lib/b.so": st(0o755, 1000)},
     "/lib/b.so is owned by uid 1000, not root"),
    ("LD_PRELOAD", "/tmp/x.so", {"/tmp/x.so": st(0o666, 0, stat.S_IFREG)},
     "/tmp/x.so is writable by group and others (mode 0666)"),
    ("LD_PRELOAD", "x.so", {}, "x.so is not an absolute path"),
    ("LD_PRELOAD", "/nope.so", {}, "/nope.so: No such file or directory"),
    ("LD_LIBRARY_PATH", "/usr/lib::/lib", {"/usr/lib": st(), "/lib": st()},
     "an empty entry means the current directory"),
    ("LD_LIBRARY_PATH", "/usr/lib;/opt", {"/usr/lib": st(), "/opt": st(0o775)},
     "/opt is writable by group (mode 0775)"),
    ("LD_AUDIT", "/lib/a.so", {"/lib/a.so": st(0o757)}, "/lib/a.so is writable by others"),
])
def test_loader_variables_need_root_only_paths(name, value, stats, why):
    decision, _ = run(FakeKernel(stats=stats), environ={name: value}, allow_root=True)
    if why is None:
        assert decision.ok, decision.problems
    else:
        assert decision.problems[0].startswith("environment: %s: %s" % (name, why)), \
            decision.problems


def test_a_spec_that_needs_privilege_gain_gets_no_no_new_privs():
    gaining = dataclasses.replace(specs.NOVA_SCHEDULER, binary="nova-compute", topic="compute",
                                  needs_privilege_gain=True)
    decision, kernel = run(spec=gaining, allow_root=True)
    assert ("nnp",) not in kernel.calls and not decision.no_new_privs
    assert decision.no_new_privs_because == "not set: the service spec needs privilege gain"
    decision, kernel = run(allow_root=True, no_new_privileges=False)
    assert ("nnp",) not in kernel.calls
    assert decision.status() == "as root, privilege gain allowed, umask 0027, no core"


def test_core_dumps_can_be_allowed_and_umask_chosen():
    decision, kernel = run(allow_root=True, allow_core_dumps=True, umask="077")
    assert ("no core",) not in kernel.calls and kernel.calls[0] == ("umask", 0o077)
    assert decision.umask == "0077" and decision.status().endswith("core dumps on")


def test_sys_path_directories_are_judged_with_the_service_account():
    stats = {"/venv/lib": st(0o755), "/tmp/pub": st(0o1777), "/home/nobody/site":
             st(0o755, NOBODY.pw_uid)}
    decision, _ = run(FakeKernel(stats=stats), service_user="nobody",
                      sys_path=["/venv/lib", "/tmp/pub", "/home/nobody/site", "/absent"])
    assert decision.problems == (
        "sys.path directory /tmp/pub is writable by group and others (mode 1777): whoever "
        "can write it runs code in the service ([safe_launch] import_path_check)",
        "sys.path directory /home/nobody/site is owned by the service account (uid %d), "
        "which can change it: whoever can write it runs code in the service ([safe_launch] "
        "import_path_check)" % NOBODY.pw_uid)
    assert run(FakeKernel(stats=stats), allow_root=True, sys_path=["/tmp/pub"],
               import_path_check="off")[0].ok


def test_loaded_modules_stat_each_path_once():
    seen = []

    def stat_(path):
        seen.append(path)
        return st(0o666 if path.endswith("bad.py") else 0o644, 0, stat.S_IFREG)
    modules = {
        "a": types.SimpleNamespace(__file__="/p/a.py", __cached__="/p/__pycache__/a.pyc"),
        "bad": types.SimpleNamespace(__file__="/p/bad.py", __cached__="/p/__pycache__/b.pyc"),
        "builtin": types.SimpleNamespace(__file__=None), "frozen": types.SimpleNamespace()}
    checked = importpaths.check_loaded(modules, stat_, None)
    assert sorted(seen) == ["/p", "/p/__pycache__", "/p/a.py", "/p/bad.py"]
    assert (checked.modules, checked.paths) == (2, 4)
    assert checked.problems[0][0].startswith("module file /p/bad.py is writable by group "
                                             "and others (mode 0666)")
    assert checked.problems[0][1]["file"] == "/p/bad.py"


def test_the_service_scope_judges_every_directory_but_only_the_services_files():
    seen = []

    def stat_(path):
        seen.append(path)
        return st(0o644, 0, stat.S_IFREG)
    modules = {"nova.x": types.SimpleNamespace(__file__="/s/nova/x.py"),
               "oslo_config": types.SimpleNamespace(__file__="/s/oslo_config/__init__.py"),
               "six": types.SimpleNamespace(__file__="/s/six.py")}
    checked = importpaths.check_loaded(modules, stat_, None, ("nova", "oslo", "safe_launch"))
    assert sorted(seen) == ["/s", "/s/nova", "/s/nova/x.py", "/s/oslo_config",
                            "/s/oslo_config/__init__.py"]
    assert checked.modules == 3
    assert hygiene.check_loaded(hygiene.Settings(import_path_check="off"), modules,
                                specs.NOVA_SCHEDULER, FakeKernel()) is None


def test_loaded_modules_are_judged_in_a_thread_as_they_were_at_the_call():
    """The create phase starts the judgement; the serve phase waits for it before
    forking: modules loaded meanwhile are not in it, a failure is raised at the wait."""
    import threading
    release = threading.Event()

    class SlowKernel(FakeKernel):
        def stat(self, path):
            release.wait(10)        # the judgement runs while the caller goes on
            return st(0o666, 0, stat.S_IFREG)
    modules = {"nova.x": types.SimpleNamespace(__file__="/s/nova/x.py")}
    wait = hygiene.check_loaded_meanwhile(hygiene.Settings(), modules, specs.NOVA_SCHEDULER,
                                          SlowKernel())
    modules["nova.later"] = types.SimpleNamespace(__file__="/s/later/y.py")
    release.set()
    checked = wait()
    assert checked.modules == 1 and not checked.ok
    assert [p[0].split(" is ")[0] for p in checked.problems] == [
        "module file /s/nova/x.py", "module directory /s/nova"]

    class BrokenKernel(FakeKernel):
        def stat(self, path):
            raise RuntimeError("stat exploded")
    wait = hygiene.check_loaded_meanwhile(hygiene.Settings(), modules, specs.NOVA_SCHEDULER,
                                          BrokenKernel())
    with pytest.raises(RuntimeError, match="stat exploded"):
        wait()


def test_the_kernel_reads_a_fake_proc_tree(tmp_path):
    fd = tmp_path / "proc" / "self" / "fd"
    fd.mkdir(parents=True)
    for name in ("0", "1", "2", "5", "12"):
        (fd / name).touch()
    (tmp_path / "proc" / "self" / "status").write_text(
        "Name:\tx\nUmask:\t0027\nNoNewPrivs:\t1\n")
    kernel = procctl.Kernel(root=str(tmp_path))
    assert kernel.open_fds() == [0, 1, 2, 5, 12]
    assert kernel.status()["NoNewPrivs"] == "1"
    assert procctl.Kernel(root=str(tmp_path / "none")).open_fds() is None


def test_close_fds_closes_exactly_the_runs_given():
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
    try:
        procctl.Kernel().close_fds(sorted(fds[:2] + fds[3:4]))
        still = [fd for fd in fds if procctl.Kernel().open_fds().count(fd)]
        assert still == [fds[2], fds[4]]
    finally:
        for fd in fds[2:3] + fds[4:]:
            os.close(fd)


@pytest.mark.parametrize("how", ["path", "symlink", "relative", "symlinked-exec"])
@pytest.mark.parametrize("long_form", [False, True], ids=["shebang", "pip-sh-exec"])
def test_the_trampoline_runs_the_anchors_interpreter_isolated(tmp_path, long_form, how):
    bindir = tmp_path / "bin dir"
    bindir.mkdir()
    for name in ("safe-launch-exec", "nova-scheduler-safe"):
        shutil.copy(os.path.join(REPO, "bin", name), bindir / name)
    python = tmp_path / "the python" / "python3"
    python.parent.mkdir()
    out = tmp_path / "argv"
    python.write_text('#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done > "%s"\n' % out)
    python.chmod(0o755)
    # What pip writes (distlib): the plain shebang, or /bin/sh + exec for long/spaced paths.
    anchor = ("#!/bin/sh\n'''exec' \"%s\" \"$0\" \"$@\"\n' '''\n" % python if long_form
              else "#!%s\n" % python) + "import sys\n"
    (bindir / "safe-launch-python").write_text(anchor)
    script, cwd = str(bindir / "nova-scheduler-safe"), None
    if how == "symlink":            # /usr/local/bin/x -> the venv's: found through the link
        (tmp_path / "elsewhere").mkdir()
        os.symlink(script, str(tmp_path / "elsewhere" / "nova-scheduler-safe"))
        script = str(tmp_path / "elsewhere" / "nova-scheduler-safe")
    elif how == "relative":
        script, cwd = "./nova-scheduler-safe", str(bindir)
    elif how == "symlinked-exec":   # the runner itself a link: its anchor is beside its target
        (tmp_path / "real").mkdir()
        os.rename(str(bindir / "safe-launch-exec"), str(tmp_path / "real" / "safe-launch-exec"))
        os.rename(str(bindir / "safe-launch-python"), str(tmp_path / "real" / "safe-launch-python"))
        os.symlink(str(tmp_path / "real" / "safe-launch-exec"), str(bindir / "safe-launch-exec"))
    subprocess.run([script, "--config-file", "a b"], check=True, timeout=30, cwd=cwd)
    argv = out.read_text().splitlines()
    assert argv[:3] == ["-I", "-u", "-c"]
    assert argv[-4:] == ["safe_launch.cmd.scheduler", script, "--config-file", "a b"]
