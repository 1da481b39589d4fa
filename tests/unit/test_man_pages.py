"""The man pages: current with their sources, installed under share/man/man8, rendered by man.

The pages are committed (doc/man/*.8) so that an install needs no Sphinx;
this rebuilds them with Sphinx's man builder and compares (regenerate with
tools/build-man.sh), then installs the package's data files into a
temporary prefix exactly as setup.cfg maps them, renders each page with
``man -l`` and lets ``systemd-analyze verify`` look the unit's
``Documentation=`` pages up there.
"""

import configparser
import os
import re
import shutil
import subprocess
import sys

import pytest

from safe_launch import errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "doc", "man")
SOURCES = os.path.join(ROOT, "doc", "source", "man")
UNIT = os.path.join(ROOT, "etc", "systemd", "nova-scheduler-safe.service")
PAGES = sorted(os.listdir(MAN))
MAN_BIN = shutil.which("man")
ANALYZE = shutil.which("systemd-analyze")


def comparable(text):
    """The page without what a rebuild changes by itself: the docutils comment, the date."""
    lines = [line for line in text.splitlines() if not line.startswith('.\\"')]
    return [re.sub(r'^(\.TH "[^"]*" "\d" )"[^"]*"', r'\1""', line) for line in lines]


def read(path):
    with open(path) as f:
        return f.read()


# The shared runner of the trampolines and the interpreter entry it reads:
# internal, never typed by an operator (see bin/safe-launch-exec).
INTERNAL = {"safe-launch-exec", "safe-launch-python"}


def console_scripts():
    """The operator's commands: the isolated trampolines (``[files] scripts``)
    and any plain console_scripts entry, less the internal ones."""
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    lines = parser["entry_points"]["console_scripts"].strip().splitlines()
    names = {line.partition("=")[0].strip() for line in lines}
    names |= {os.path.basename(line.strip())
              for line in parser["files"]["scripts"].strip().splitlines()}
    return sorted(names - INTERNAL)


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    """The package's data files installed into a fresh prefix, from a copy of the tree.

    ``setup.py install_data`` applies setup.cfg's ``[files] data_files``
    (pbr's mapping) without building anything else; the copy keeps the
    build's egg-info and AUTHORS out of the work tree.
    """
    tree = tmp_path_factory.mktemp("tree")
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(os.path.join(ROOT, name), tree)
    shutil.copytree(MAN, tree / "doc" / "man")
    shutil.copytree(os.path.join(ROOT, "safe_launch"), tree / "safe_launch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    prefix = tmp_path_factory.mktemp("prefix")
    subprocess.run([sys.executable, "setup.py", "-q", "install_data", "--install-dir",
                    str(prefix)], cwd=tree, check=True, capture_output=True, timeout=180,
                   env=dict(os.environ, PBR_VERSION="0.1.0"))
    return prefix


def test_committed_pages_are_current_with_their_sources(tmp_path):
    subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "-E", "-b", "man",
                    os.path.join(ROOT, "doc", "source"), str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    built = sorted(p for p in os.listdir(tmp_path) if p.endswith(".8"))
    assert built == PAGES
    for page in PAGES:
        assert comparable(read(tmp_path / page)) == comparable(read(os.path.join(MAN, page))), (
            "doc/man/%s is stale: run tools/build-man.sh" % page)


def test_every_console_script_has_a_page():
    assert {s + ".8" for s in console_scripts()} <= set(PAGES)
    assert sorted(p[:-2] + ".rst" for p in PAGES) == sorted(os.listdir(SOURCES))


def test_pages_quote_the_exit_codes_of_the_table():
    def codes(page):
        section = read(os.path.join(SOURCES, page)).partition("Exit status\n-----------")[2]
        section = section.partition("\n\n" + section.split("\n\n")[-1])[0]
        return {int(c) for c in re.findall(r"^(\d+)$", section, flags=re.M)}
    admin = {errors.ExitCode.OK, errors.ExitCode.TAMPERED, errors.ExitCode.USAGE,
             errors.ExitCode.NOINPUT, errors.ExitCode.CONFIG}
    assert codes("safe-launch.rst") == admin
    assert codes("nova-scheduler-safe.rst") == set(errors.ExitCode) - (
        admin - {errors.ExitCode.OK, errors.ExitCode.USAGE, errors.ExitCode.CONFIG})


def test_install_puts_every_page_under_share_man_man8(prefix):
    assert sorted(os.listdir(prefix / "share" / "man" / "man8")) == PAGES


@pytest.mark.skipif(MAN_BIN is None, reason="man is not installed")
@pytest.mark.parametrize("page", PAGES)
def test_man_renders_each_installed_page(prefix, page):
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
    r = subprocess.run([MAN_BIN, "-l", str(prefix / "share" / "man" / "man8" / page)],
                       capture_output=True, text=True, timeout=60, env=env,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert not r.stderr.strip()
    name = page[:-2]
    assert re.search(r"^NAME\n\s+%s\s+-\s+\S" % re.escape(name), r.stdout, flags=re.M), r.stdout
    assert "EXIT STATUS" in r.stdout or "SEE ALSO" in r.stdout


def test_the_unit_documents_the_pages_this_project_ships():
    docs = re.findall(r"^Documentation=(.*)$", read(UNIT), flags=re.M)
    pages = {m.group(1) + ".8" for d in docs for u in d.split()
             if (m := re.match(r"man:([\w-]+)\(8\)$", u))}
    assert pages == {"nova-scheduler-safe.8", "safe-launch.8"}
    assert pages <= set(PAGES)


@pytest.mark.skipif(ANALYZE is None or MAN_BIN is None, reason="systemd-analyze or man missing")
def test_systemd_analyze_verify_finds_the_pages_once_installed(prefix, tmp_path):
    # Missing Exec* binaries -> /usr/bin/true (verify refuses a missing binary).
    text = re.sub(r"^(Exec\w+=[-@:+!]*)(\S+)",
                  lambda m: m.group(1) + (m.group(2) if os.access(m.group(2), os.X_OK)
                                          else "/usr/bin/true"), read(UNIT), flags=re.M)
    unit = tmp_path / os.path.basename(UNIT)
    unit.write_text(text)
    env = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")

    def verify(manpath):
        r = subprocess.run([ANALYZE, "--no-pager", "verify", "--man=yes", str(unit)],
                           capture_output=True, text=True, timeout=120,
                           env=dict(env, MANPATH=manpath))
        return r.returncode, (r.stdout + r.stderr).strip()
    assert verify(str(prefix / "share" / "man")) == (0, "")
    # and the check can fail: without the pages, verify names them
    rc, out = verify(str(tmp_path / "nowhere"))
    assert "safe-launch(8)" in out
