"""safe_launch.sandbox.clean_old: removes only its own, unused, older sandboxes."""

import os

from safe_launch import sandbox


def proc_tree(root, cmdlines):
    for pid, argv in cmdlines.items():
        os.makedirs(root / str(pid))
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (root / "self").mkdir()             # not a pid: skipped
    return str(root)


def sandbox_dir(path, marked=True):
    path.mkdir()
    if marked:
        (path / sandbox.MARKER).touch()
    return path


def test_clean_old_removes_only_marked_unused_siblings(tmp_path):
    parent = tmp_path / "tmp"
    parent.mkdir()
    current = parent / "safe-launch-demo.cur"
    old = sandbox_dir(parent / "safe-launch-demo.old")
    serving = sandbox_dir(parent / "safe-launch-demo.run")
    unmarked = sandbox_dir(parent / "safe-launch-demo.usr", marked=False)
    other = sandbox_dir(parent / "something-else.old")
    link = parent / "safe-launch-demo.lnk"
    link.symlink_to(old)
    proc = proc_tree(tmp_path / "proc", {
        4242: ["/venv/bin/nova-scheduler-safe", "--config-file", str(serving / "nova.conf")],
        4343: ["/bin/sh", str(parent / "safe-launch-demo.r")],      # a prefix is not a use
    })
    removed = sandbox.clean_old(str(current), proc=proc)
    assert removed == [str(old)]
    assert not old.exists()
    assert serving.exists() and unmarked.exists() and other.exists() and link.is_symlink()


def test_write_conf_marks_the_sandbox(tmp_path):
    sandbox.write_conf(str(tmp_path / "s"))
    assert (tmp_path / "s" / sandbox.MARKER).exists()


def test_the_demo_sandbox_silences_placement_but_keeps_oslo_logs_defaults():
    from oslo_log import log
    extra = sandbox.demo_extra()
    levels = extra.partition("default_log_levels = ")[2].strip().split(",")
    assert "nova.scheduler.client.report=CRITICAL" in levels
    assert "keystoneauth=ERROR" in levels and "keystoneauth=WARN" not in levels
    names = [level.partition("=")[0] for level in levels]
    assert len(names) == len(set(names))
    assert {d.partition("=")[0] for d in log.get_default_log_levels()} <= set(names)
