"""The package's contracts: import cost, exit-code table, entry points."""

import os
import subprocess
import sys

from safe_launch import errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_import_needs_no_nova_and_loads_nothing_that_picks_a_backend():
    code = ("import sys; sys.modules['nova'] = None\n"
            "import safe_launch\n"
            "from safe_launch.cmd import scheduler, admin\n"
            "bad = [m for m in ('nova.conf', 'eventlet', 'oslo_messaging', 'oslo_service.service',"
            " 'futurist', 'cotyledon') if m in sys.modules]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_readme_quotes_the_exit_code_table():
    with open(os.path.join(ROOT, "README.md")) as f:
        assert errors.table_markdown() in f.read()


def test_every_exit_code_has_one_row():
    assert [code for code, _ in errors.EXIT_TABLE] == list(errors.ExitCode)


class OperationalError(Exception):
    """Stands for sqlalchemy's, which classify() knows by name only."""


OperationalError.__module__ = "sqlalchemy.exc"


def test_unknown_exceptions_are_internal_errors_and_known_ones_are_mapped():
    assert errors.classify(OperationalError()) == errors.ExitCode.TEMPFAIL
    assert errors.classify(ModuleNotFoundError("x")) == errors.ExitCode.UNAVAILABLE
    assert errors.classify(PermissionError()) == errors.ExitCode.OSERR
    assert errors.classify(KeyError()) == errors.ExitCode.SOFTWARE
