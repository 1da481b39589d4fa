"""The argv guard against nova-scheduler's real CLI options (nova.conf + oslo.log)."""

import time

from hypothesis import given, settings, strategies as st
from oslo_config import cfg
from oslo_log import log
import pytest

from safe_launch import argv


@pytest.fixture(scope="module")
def opts():
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    return argv.cli_opts_of(conf)


def check(opts, *args, denied=()):
    return argv.guard(list(args), opts, denied=denied)


def test_cli_opts_of_lists_oslo_log_options_but_not_the_builtins(opts):
    names = {opt.dest for opt, _ in opts}
    assert {"debug", "log_config_append", "log_file", "use_json", "shell_completion"} <= names
    assert not names & {"config_file", "config_dir"}


def test_a_clean_command_line_is_accepted_and_canonical(opts):
    d = check(opts, "--config-file", "/etc/nova/nova.conf", "--config-file=/etc/nova/b.conf",
              "--config-dir", "/etc/nova/nova.conf.d", "-d", "--log_file", "/var/log/x.log",
              "--nouse-syslog")
    assert d.ok, d.problems
    assert d.config_files == ("/etc/nova/nova.conf", "/etc/nova/b.conf")
    assert d.config_dirs == ("/etc/nova/nova.conf.d",)
    assert d.config_args[2] == ("config_dir", "/etc/nova/nova.conf.d")
    assert d.options == {"config_file": ("/etc/nova/nova.conf", "/etc/nova/b.conf"),
                         "config_dir": ("/etc/nova/nova.conf.d",), "debug": True,
                         "log_file": "/var/log/x.log", "use_syslog": False}
    assert d.argv == ("--config-file=/etc/nova/nova.conf", "--config-file=/etc/nova/b.conf",
                      "--config-dir=/etc/nova/nova.conf.d", "--debug",
                      "--log-file=/var/log/x.log", "--nouse-syslog")
    assert "accepted" in d.summary()


def test_the_canonical_argv_parses_to_the_same_values(opts, tmp_path):
    path = tmp_path / "a.conf"
    path.write_text("[DEFAULT]\n")
    d = check(opts, "--config-file", str(path), "--log_file", "x.log", "--logdir", "/tmp")
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    conf(list(d.argv), default_config_files=[], default_config_dirs=[])
    assert (conf.log_file, conf.log_dir, conf.config_file) == ("x.log", "/tmp", [str(path)])


@pytest.mark.parametrize("args, meant", [
    (["--config-f", "X"], "--config-file"),
    (["--deb"], "--debug"),
    (["--log_", "F"], "--log-config-append"),
    (["--nodeb"], "--nodebug"),
])
def test_abbreviations_are_refused_with_what_argparse_would_have_taken(opts, args, meant):
    d = check(opts, *args)
    assert not d.ok
    assert d.problems == ("%s: abbreviations are not accepted; did you mean %s?"
                          % (args[0], meant),)


@pytest.mark.parametrize("prefix", ["--log", "--use", "--log-c"])
def test_ambiguous_prefixes_are_refused(opts, prefix):
    d = check(opts, prefix)
    assert len(d.problems) == 1 and "abbreviations are not accepted" in d.problems[0]


def test_unknown_option_and_typo_hint(opts):
    assert check(opts, "--bogus").problems == ("--bogus: unknown option",)
    assert check(opts, "--debgu").problems == ("--debgu: unknown option; did you mean --debug?",)


def test_positional_arguments_are_refused(opts):
    assert check(opts, "nova.conf").problems == (
        "nova.conf: positional arguments are not accepted",)
    assert len(check(opts, "--debug", "--", "x").problems) == 2
    assert not check(opts, "").ok


def test_a_flag_takes_no_value(opts):
    assert check(opts, "--debug=1").problems == ("--debug=1: takes no value",)


def test_single_valued_options_may_not_repeat(opts):
    d = check(opts, "--debug", "--nodebug")
    assert d.problems == ("--debug: given 2 times (--debug, --nodebug); a single-valued "
                          "option may be given once",)
    assert not check(opts, "--log-file", "a", "--logfile", "b").ok
    assert not check(opts, "-d", "--debug").ok
    assert check(opts, "--config-file", "a", "--config-file", "b",
                 "--config-dir", "c", "--config-dir", "d").ok


def test_deprecated_names_are_accepted_with_a_warning(opts):
    d = check(opts, "--logfile", "x")
    assert d.ok and d.warnings == ("--logfile is deprecated; use --log-file",)
    assert d.argv == ("--log-file=x",)


def test_missing_and_empty_values(opts):
    assert check(opts, "--config-file").problems == ("--config-file: missing value",)
    assert "missing value" in check(opts, "--log-file", "--debug").problems[0]
    assert check(opts, "--log-file=").problems == ("--log-file: empty value",)
    d = check(opts, "--log-file=-x")
    assert d.ok and d.options["log_file"] == "-x"


@pytest.mark.parametrize("token", ["a\x00b", "a\nb", "a\x1bb", "\udcff", "a\u202eb"])
def test_control_and_undecodable_characters_are_refused(opts, token):
    d = check(opts, "--log-file", token)
    assert not d.ok
    assert d.problems[0].startswith("argument 2 ")


def test_values_are_checked_by_the_option_type(opts):
    d = check(opts, "--shell_completion", "ksh")
    assert d.problems == ("--shell_completion: invalid value 'ksh': Valid values are "
                          "[bash, zsh], but found 'ksh'",)


def test_secret_values_are_not_shown(opts):
    secret = cfg.IntOpt("token-count", secret=True)
    d = argv.guard(["--token-count", "hunter2"], opts + [secret])
    assert not d.ok and "hunter2" not in repr(d.problems)


def test_denied_options_are_refused(opts):
    d = check(opts, "--log-config-append", "/etc/nova/logging.conf",
              denied=["log-config-append"])
    assert d.problems == ("--log-config-append: denied by [safe_launch] denied_cli_options",)
    assert not check(opts, "--shell_completion", "bash", denied=["shell_completion"]).ok


@pytest.mark.parametrize("denied", ["log-config-append", "log_config_append"])
@pytest.mark.parametrize("key", ["log_config_append", "group.log_config_append"])
def test_one_denied_rule_folds_dashes_and_matches_the_dest_or_group_dest(denied, key):
    """The guard, --help and the validate phase all ask argv.is_denied: ``-`` and
    ``_`` alike, the dest alone or ``group.dest`` (issue 17: two copies disagreed)."""
    assert argv.is_denied(key, [denied])
    assert not argv.is_denied(key, ["log-config"])
    assert not argv.is_denied("log_config_append_x", [denied])


def test_help_hides_exactly_what_the_guard_refuses():
    from safe_launch import opts as sl_opts
    from safe_launch import parse
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    sl_opts.register_opts(conf)
    conf.set_override("denied_cli_options", ["log-config-append", "log_dir"],
                      group="safe_launch")
    refused = {o.dest for o, _ in argv.cli_opts_of(conf)
               if argv.is_denied(o.dest, conf.safe_launch.denied_cli_options)}
    parse.hide_refused(conf)
    left = {o.dest for o, _ in argv.cli_opts_of(conf)}
    assert refused == {"log_config_append", "log_dir"} and not refused & left


def test_options_of_a_group_and_explicit_opts_before_registration():
    group_opt = cfg.BoolOpt("verbose", deprecated_name="chatty")
    # The spellings oslo.config registers: a deprecated name without a group
    # is not prefixed with the option's group.
    d = argv.guard(["--safe_launch-verbose", "--nochatty"], [(group_opt, "safe_launch")])
    assert d.problems == ("--safe_launch-verbose: given 2 times (--safe_launch-verbose, "
                          "--nochatty); a single-valued option may be given once",)
    assert d.warnings == ("--nochatty is deprecated; use --safe_launch-noverbose",)
    assert argv.guard(["--safe_launch-verbose"], [(group_opt, "safe_launch")]).options == {
        "safe_launch.verbose": True}
    assert argv.guard(["--limit", "3"], [cfg.IntOpt("limit", min=5)]).problems[0].startswith(
        "--limit: invalid value '3'")


def test_size_bounds(opts):
    assert not check(opts, *(["--debug"] * 300)).ok
    d = argv.guard(["--log-file", "x" * 70000], opts)
    assert not d.ok and "limit" in d.problems[0]
    assert not argv.guard(["--debug"] * 3, opts, max_args=2).ok


def test_every_problem_is_listed_at_once(opts):
    d = check(opts, "--deb", "pos", "--debug=1", "--log-file")
    assert len(d.problems) == 4


_TOKENS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["--config-file", "--config-dir", "--debug", "--nodebug", "-d", "-h",
                     "--log-file", "--log_file", "--logfile", "--log-config-append", "--",
                     "--shell_completion", "--version", "-", "--config-f", "--deb", "=", ""]),
    st.builds(lambda o, v: "%s=%s" % (o, v),
              st.sampled_from(["--config-file", "--debug", "--log-dir", "--use-json"]),
              st.text(max_size=10)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=12))
def test_random_argv_never_raises_and_is_consistent(opts, args):
    start = time.monotonic()
    d = argv.guard(args, opts, denied=["shell_completion"])
    assert time.monotonic() - start < 1
    assert d.ok == (not d.problems)
    assert all(isinstance(p, str) and p for p in d.problems)
    if d.ok and not d.config_args and not {"help", "version"} & set(d.options):
        # What the guard accepts, oslo.config parses to the same values.
        conf = cfg.ConfigOpts()
        log.register_options(conf)
        conf(list(d.argv), default_config_files=[], default_config_dirs=[])
        for key, value in d.options.items():
            if "$" not in str(value):       # oslo.config substitutes $names
                assert conf[key] == value


def test_double_dash_is_not_a_value(opts):
    d = check(opts, "--log-dir=--")
    assert not d.ok and "'--' is not a value" in d.problems[0]
