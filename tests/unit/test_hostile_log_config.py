"""The log_config_append file judged as logging.config.fileConfig reads it.

oslo.log hands ``[DEFAULT] log_config_append`` to fileConfig while the
service is created: a file it refuses ended the launch in 70 (or 69 for an
unknown handler class), ``safe-launch check`` said 0, and configparser's
message quoted the offending line or raw value.  The file check
(configfiles.check_file, kind ``log-config``, on every path) now refuses it
with the file, the line or section and the rule, never a value.
"""

import logging.config
import os
import secrets

import pytest

from safe_launch import configfiles

GOOD = """\
[loggers]
keys = root, nova

[handlers]
keys = stderr, null

[formatters]
keys = context, default

[logger_root]
level = WARNING
handlers = null

[logger_nova]
level = INFO
handlers = stderr
qualname = nova

[handler_stderr]
class = StreamHandler
args = (sys.stderr,)
formatter = context

[handler_null]
class = logging.NullHandler
formatter = default
args = ()

[formatter_context]
class = oslo_log.formatters.ContextFormatter

[formatter_default]
format = %(asctime)s %(levelname)s 100% %(message)s
datefmt = %Y-%m-%d
"""
HEAD = ("[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=\n"
        "[logger_root]\nhandlers=h\n")
NONCE = secrets.token_hex(12)

BAD = {
    "unparsable-line": (HEAD + "[handler_h]\nclass=StreamHandler\napi %s\n" % NONCE, "line 11"),
    "no-section-header": ("token=%s\n" % NONCE, "line 1"),
    "duplicate-option": (HEAD + "[handler_h]\nclass=StreamHandler\nargs=()\nargs=('%s',)\n"
                         % NONCE, "args given twice"),
    "duplicate-section": (HEAD + "[handler_h]\nclass=StreamHandler\n[handler_h]\nargs=('%s',)\n"
                          % NONCE, "section \\[handler_h\\] given twice"),
    "interpolation": (HEAD + "[handler_h]\nclass=StreamHandler\nargs=('%%(x%s)s',)\n" % NONCE,
                      "\\[handler_h\\] args: bad"),
    "args-syntax": (HEAD + "[handler_h]\nclass=StreamHandler\nargs=('%s',\n" % NONCE,
                    "\\[handler_h\\] args: not a Python expression"),
    "unknown-class": (HEAD + "[handler_h]\nclass=Stream%sHandler\n" % NONCE,
                      "\\[handler_h\\] class: no such class"),
    "missing-formatters": ("[loggers]\nkeys=root\n[logger_root]\nhandlers=\n"
                           "[handlers]\nkeys=\n", "no \\[formatters\\] keys"),
    "no-root": ("[loggers]\nkeys=nova\n[handlers]\nkeys=\n[formatters]\nkeys=\n",
                "no root logger"),
    "handler-section-missing": (HEAD, "no \\[handler_h\\] section"),
    "unlisted-handler": (HEAD.replace("handlers=h", "handlers=h,%s" % NONCE)
                         + "[handler_h]\nclass=StreamHandler\n", "\\[logger_root\\] handlers"),
    "unlisted-formatter": (HEAD + "[handler_h]\nclass=StreamHandler\nformatter=f%s\n" % NONCE,
                           "\\[handler_h\\] formatter"),
}


def write(tmp_path, text):
    path = tmp_path / "logging.conf"
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def test_a_valid_logging_configuration_passes_and_file_config_agrees(tmp_path):
    path = write(tmp_path, GOOD)
    assert configfiles.check_file(path, "log-config").problems == ()
    before = logging.getLogger().handlers[:]
    try:
        logging.config.fileConfig(path, disable_existing_loggers=False)
    finally:
        logging.getLogger().handlers[:] = before


@pytest.mark.parametrize("name", sorted(BAD))
def test_what_file_config_refuses_is_refused_naming_the_rule_never_the_value(tmp_path, name):
    text, rule = BAD[name]
    path = write(tmp_path, text)
    with pytest.raises(Exception):          # the premise: fileConfig refuses it
        before = logging.getLogger().handlers[:]
        try:
            logging.config.fileConfig(path, disable_existing_loggers=False)
        finally:
            logging.getLogger().handlers[:] = before
    problems = configfiles.check_file(path, "log-config").problems
    assert len(problems) == 1, problems
    assert problems[0].startswith(path + ": "), problems
    assert __import__("re").search(rule, problems[0]), problems
    assert NONCE not in problems[0]


def test_the_rule_applies_to_log_config_files_only(tmp_path):
    path = write(tmp_path, "[DEFAULT]\ndebug = true\n")
    assert configfiles.check_file(path, "config-file").problems == ()
    assert configfiles.check_file(path, "log-config").problems
