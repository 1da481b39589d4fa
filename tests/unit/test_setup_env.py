"""tools/setup-env.sh runs pip only when .venv is not current, and says what it does.

Run on a copy of the script in a scratch tree whose .venv/bin/pip records
its calls (the real pip is what the whole suite's .venv was made with).
"""

import os
import shutil
import stat
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tree(tmp_path):
    (tmp_path / "tools").mkdir()
    shutil.copy(os.path.join(ROOT, "tools", "setup-env.sh"), tmp_path / "tools")
    for name in ("setup.cfg", "constraints.txt", "requirements.txt"):
        shutil.copy(os.path.join(ROOT, name), tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "pip"):
        path = bin_dir / tool
        path.write_text('#!/bin/sh\necho "%s $*" >> "%s"\n' % (tool, tmp_path / "calls"))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def setup(tmp_path):
    r = subprocess.run(["bash", str(tmp_path / "tools" / "setup-env.sh")], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    calls = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    (tmp_path / "calls").unlink(missing_ok=True)
    return calls, r.stderr


def test_pip_runs_once_then_only_when_the_pins_change(tmp_path):
    tree(tmp_path)
    calls, said = setup(tmp_path)
    assert "pip install -q -c constraints.txt -e .[nova,cinder,test]" in calls
    assert "setup-env: installing" in said and "about 90 s" in said   # the progress line
    assert setup(tmp_path) == ("", "")                  # current: no pip, no word
    with open(tmp_path / "constraints.txt", "a") as f:
        f.write("extra==1.0\n")
    calls, said = setup(tmp_path)
    assert "pip install" in calls and "setup-env: .venv is ready" in said
    assert setup(tmp_path) == ("", "")


def test_a_failed_install_is_retried(tmp_path):
    tree(tmp_path)
    pip = tmp_path / ".venv" / "bin" / "pip"
    pip.write_text("#!/bin/sh\nexit 1\n")
    r = subprocess.run(["bash", str(tmp_path / "tools" / "setup-env.sh")], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert not (tmp_path / ".venv" / ".setup-stamp").exists()
