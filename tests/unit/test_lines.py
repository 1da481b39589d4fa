"""One line splitter: the project's view of a file is oslo.config's own parse of it.

For any file text, what :func:`configfiles.read_sections` makes of the bytes
:func:`configfiles.check_file` read equals ``cfg.ConfigParser(path,
sections).parse()`` of the same file on disk, and both refuse (at the same
line) or neither does.  ``str.splitlines()`` also breaks at \\v \\f \\x1c
\\x1d \\x1e \\x85 \\u2028 \\u2029, where oslo.config's universal newlines do not.
"""

import locale
import os
import tempfile

from hypothesis import given, settings, strategies as st
from oslo_config import cfg
from oslo_config import iniparser

from safe_launch import configfiles

BREAKS = ["\n", "\r\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
          "\u2029", "\t", " "]
PIECES = ["[DEFAULT]", "[oslo_messaging_rabbit]", "[Sec]", "[", "]", "[]", "key", "ssl",
          " = ", "=", ":", "value", "'q'", '"', "#", ";", " ", "\t", "  continued", "$x",
          "\ufeff", "é", "\u00a0"]
line = st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(BREAKS),
                          # files are UTF-8: no NUL, no lone surrogates
                          st.text(alphabet=st.characters(blacklist_characters="\0",
                                                         blacklist_categories=("Cs",)),
                                  max_size=4)), max_size=6).map("".join)
text = st.tuples(st.sampled_from(["", "\ufeff"]),
                 st.lists(st.tuples(line, st.sampled_from(BREAKS)), max_size=12)).map(
    lambda t: t[0] + "".join(a + b for a, b in t[1]))


def oslo_view(path):
    sections = {}
    try:
        cfg.ConfigParser(path, sections).parse()
    except iniparser.ParseError as exc:
        return ("error", exc.lineno)
    return sections


def project_view(path):
    record = configfiles.check_file(path, "config-file", "off")
    assert record.ok, record.problems
    try:
        return configfiles.read_sections(record)
    except configfiles.FileParseError as exc:
        return ("error", exc.lineno)


def test_oslo_config_reads_utf8_here():
    assert locale.getpreferredencoding(False).lower().replace("-", "") == "utf8"


@settings(max_examples=400, deadline=None)
@given(text=text)
def test_the_projects_view_of_any_file_is_oslo_configs(text):
    fd, path = tempfile.mkstemp(suffix=".conf")
    try:
        os.write(fd, text.encode("utf-8"))
        os.close(fd)
        assert project_view(path) == oslo_view(path)
    finally:
        os.unlink(path)


def test_a_key_after_a_line_separator_is_where_oslo_config_sees_it(tmp_path):
    path = tmp_path / "a.conf"
    path.write_bytes("[DEFAULT]\nx = 1\u2028[oslo_messaging_rabbit]\nssl_ca_fiel = a\n"
                     .encode())
    sections = configfiles.read_sections(configfiles.check_file(str(path), "config-file",
                                                                "off"))
    assert sections == {"DEFAULT": {"x": ["1\u2028[oslo_messaging_rabbit]"],
                                    "ssl_ca_fiel": ["a"]}}
    assert sections == oslo_view(str(path))
