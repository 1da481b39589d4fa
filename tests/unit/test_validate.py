"""Eager validation and unknown keys, on ConfigOpts with nova's real options."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import time

import nova.conf
from oslo_config import cfg
from oslo_log import log
import pytest

from safe_launch import opts as safe_launch_opts
from safe_launch.spec import CINDER_SCHEDULER, NOVA_SCHEDULER
from safe_launch import validate

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
GENERATOR = os.path.join(os.path.dirname(sys.executable), "oslo-config-generator")


def nova_conf():
    """A fresh ConfigOpts with what the scheduler registers before the parse.

    nova.conf registers its options on the global CONF at import, through
    OptGroup objects that cannot be registered twice: the same Opt objects
    are registered here by group name (the notes' "shadow ConfigOpts").
    """
    conf = cfg.ConfigOpts()
    for info, group in nova.conf.CONF._all_opt_infos():
        opt = info["opt"]
        if group is None and opt.dest in conf:
            continue        # oslo.config's own, already in the fresh object
        register = conf.register_cli_opt if info["cli"] else conf.register_opt
        register(opt, group=group.name if group is not None else None)
    log.register_options(conf)
    safe_launch_opts.register_opts(conf)
    return conf


def parsed(tmp_path, text, name="nova.conf"):
    path = tmp_path / name
    path.write_text(text)
    conf = nova_conf()
    conf(["--config-file", str(path)], default_config_files=[], default_config_dirs=[])
    return conf, str(path)


@pytest.fixture(autouse=True)
def no_os_env(monkeypatch):
    for var in list(os.environ):
        if var.startswith("OS_") and "__" in var:
            monkeypatch.delenv(var)


# -- eager_check -------------------------------------------------------------------


def test_three_bad_values_are_three_errors_in_one_pass(tmp_path):
    conf, path = parsed(tmp_path, "[scheduler]\nworkers = abc\nmax_attempts = 0\n"
                        "[libvirt]\ncpu_mode = bogus\n")
    report = validate.eager_check(conf, [path])
    assert not report.ok
    assert sorted((p.group, p.option, p.source) for p in report.errors) == [
        ("libvirt", "cpu_mode", path), ("scheduler", "max_attempts", path),
        ("scheduler", "workers", path)]
    messages = {p.option: p.message for p in report.errors}
    assert messages["workers"] == "invalid value: invalid literal for int() with base 10: 'abc'"
    assert messages["max_attempts"] == "invalid value: Should be greater than or equal to 1"


def test_bad_policy_values_are_errors_not_crashes(tmp_path):
    conf, path = parsed(tmp_path, "[safe_launch]\nallow_config_source = maybe\n"
                        "unknown_keys = sometimes\n[scheduler]\nworkerz = 1\n")
    report = validate.eager_check(conf, [path])
    assert sorted(p.option for p in report.errors) == ["allow_config_source", "unknown_keys"]
    report = validate.unknown_keys(conf, [path], NOVA_SCHEDULER)
    assert [p.option for p in report.errors] == ["workerz"]


def test_a_clean_config_has_no_error(tmp_path):
    conf, path = parsed(tmp_path, "[scheduler]\nworkers = 4\n")
    assert validate.eager_check(conf, [path]) == validate.ValidationReport()


def test_values_from_the_environment_are_recorded_by_name_only(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_SCHEDULER__WORKERS", "31337")
    monkeypatch.setenv("OS_FILTER_SCHEDULER__HOST_SUBSET_SIZE", "many")
    conf, path = parsed(tmp_path, "[scheduler]\nworkers = 7\n")
    report = validate.eager_check(conf, [path])
    assert report.env_sources == (("scheduler", "workers", "OS_SCHEDULER__WORKERS"),)
    assert [(p.option, p.source) for p in report.errors] == [
        ("host_subset_size", "OS_FILTER_SCHEDULER__HOST_SUBSET_SIZE")]
    assert "31337" not in repr(report)


def test_secret_values_are_not_shown(tmp_path):
    conf, path = parsed(tmp_path, "[vault]\npin = hunter2\n")
    conf.register_opt(cfg.IntOpt("pin", secret=True), group="vault")
    [problem] = validate.eager_check(conf, [path]).errors
    assert problem.message == "invalid value (not shown: declared secret)"
    assert "hunter2" not in repr(problem)


def test_a_bad_substitution_is_reported_for_a_default_option(tmp_path):
    conf, path = parsed(tmp_path, "[DEFAULT]\ntempdir = $nosuchoption/x\n")
    [problem] = validate.eager_check(conf, [path]).errors
    assert (problem.group, problem.option) == ("DEFAULT", "tempdir")
    assert problem.message.startswith("bad $substitution")


def test_config_source_is_denied_unless_allowed(tmp_path):
    conf, path = parsed(tmp_path, "[DEFAULT]\nconfig_source = remote\n")
    [problem] = validate.eager_check(conf, [path]).errors
    assert (problem.option, problem.source) == ("config_source", path)
    assert validate.eager_check(conf, [path], allow_config_source=True).ok
    conf, path = parsed(tmp_path, "[DEFAULT]\nconfig_source = remote\n"
                        "[safe_launch]\nallow_config_source = true\n")
    assert validate.eager_check(conf, [path]).ok


def test_config_source_is_caught_before_the_parse(tmp_path):
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\nconfig_source = remote\n[remote]\ndriver = remote_file\n")
    [problem] = validate.config_source_check([str(path)], {}).errors
    assert (problem.option, problem.source) == ("config_source", str(path))
    assert validate.config_source_check([str(path)], {}, allow_config_source=True).ok
    path.write_text("[DEFAULT]\n[safe_launch]\nallow_config_source = false\n")
    assert validate.config_source_check([str(path)], {}).ok
    env = {"OS_DEFAULT__CONFIG_SOURCE": "remote"}
    assert validate.config_source_check([str(path)], env).errors[0].source == \
        "OS_DEFAULT__CONFIG_SOURCE"
    path.write_text("[DEFAULT]\nconfig_source = remote\n[safe_launch]\n"
                    "allow_config_source = true\n")
    assert validate.config_source_check([str(path)], {}).ok


def test_options_deprecated_for_removal_in_use_are_warnings(tmp_path):
    conf, path = parsed(tmp_path, "[workarounds]\ndisable_fallback_pcpu_query = true\n")
    report = validate.eager_check(conf, [path])
    assert report.ok
    assert [(p.group, p.option, p.source) for p in report.warnings] == [
        ("workarounds", "disable_fallback_pcpu_query", path)]


# -- unknown_keys ------------------------------------------------------------------


def unknown(tmp_path, text, **kw):
    path = tmp_path / "nova.conf"
    path.write_text(text)
    return validate.unknown_keys(nova_conf(), [str(path)], NOVA_SCHEDULER, **kw), str(path)


def test_a_typo_in_oslo_messaging_rabbit_is_an_error_naming_it(tmp_path):
    report, path = unknown(tmp_path, "[oslo_messaging_rabbit]\nssl = true\n"
                           "ssl_ca_fil = /etc/ssl/ca.pem\n")
    assert report.errors == (validate.Problem(
        "oslo_messaging_rabbit", "ssl_ca_fil", "[oslo_messaging_rabbit] ssl_ca_fil: unknown "
        "option, ignored by oslo.config (did you mean ssl_ca_file?)", path),)


def test_unknown_sections_are_warnings_and_section_names_ignore_case(tmp_path):
    report, path = unknown(tmp_path, "[Scheduler]\nworkers = 2\n[default]\ndebug = true\n"
                           "[my_plugin]\nx = 1\n")
    assert report.ok
    assert [(p.group, p.message) for p in report.warnings] == [
        ("default", "[default]: unknown section, ignored by oslo.config "
                    "(did you mean DEFAULT?)"),
        ("my_plugin", "[my_plugin]: unknown section, ignored by oslo.config")]


def test_policies(tmp_path):
    text = "[scheduler]\nworkerz = 2\n[nosuch]\nx = 1\n"
    report, _ = unknown(tmp_path, text, key_policy="warn", section_policy="error")
    assert [p.option for p in report.errors] == [None]
    assert [p.option for p in report.warnings] == ["workerz"]
    report, _ = unknown(tmp_path, text, key_policy="ignore", section_policy="ignore")
    assert report == validate.ValidationReport()
    with pytest.raises(ValueError):
        unknown(tmp_path, text, key_policy="fatal")


def test_policies_default_to_the_safe_launch_group(tmp_path):
    report, _ = unknown(tmp_path, "[scheduler]\nworkerz = 2\n")
    assert len(report.errors) == 1
    conf, path = parsed(tmp_path, "[safe_launch]\nunknown_keys = warn\n[scheduler]\n"
                        "workerz = 2\n")
    report = validate.unknown_keys(conf, [path], NOVA_SCHEDULER)
    assert report.ok and [p.option for p in report.warnings] == ["workerz"]


def test_dashed_keys_are_unknown_to_oslo_config(tmp_path):
    report, _ = unknown(tmp_path, "[DEFAULT]\nlog-file = /var/log/x\n")
    assert report.errors[0].message.endswith("(did you mean log_file?)")


def test_deprecated_names_are_known_with_a_warning(tmp_path):
    # Registered at runtime (oslo.log, with both spellings oslo.config adds),
    # or only known from a namespace (oslo.messaging's rabbit options).
    report, _ = unknown(tmp_path, "[DEFAULT]\nlogfile = /var/log/nova.log\n"
                        "log-config = /etc/nova/logging.conf\nlog_config = /x\n"
                        "[oslo_messaging_rabbit]\nkombu_reconnect_timeout = 60\n")
    assert report.ok
    assert [p.message for p in report.warnings] == [
        "[DEFAULT] logfile is deprecated; use [DEFAULT] log_file",
        "[DEFAULT] log-config is deprecated; use [DEFAULT] log_config_append",
        "[DEFAULT] log_config is deprecated; use [DEFAULT] log_config_append",
        "[oslo_messaging_rabbit] kombu_reconnect_timeout is deprecated; use "
        "[oslo_messaging_rabbit] kombu_missing_consumer_retry_timeout"]


def test_keystoneauth_plugin_options_are_known_in_auth_groups(tmp_path):
    report, _ = unknown(tmp_path, "[placement]\nauth_type = v3applicationcredential\n"
                        "application_credential_id = x\napplication_credential_secret = y\n"
                        "auth_url = http://k\n[keystone_authtoken]\nusername = n\n"
                        "password = p\nuser_domain_name = d\nproject_name = p\n"
                        "[neutron]\nauth_section = shared_auth\n"
                        "[shared_auth]\nauth_type = password\nusername = n\n")
    assert report == validate.ValidationReport()
    report, _ = unknown(tmp_path, "[placement]\npasword = p\n")
    assert report.errors[0].message.endswith("(did you mean password?)")


def test_environment_variables_naming_no_option(tmp_path):
    env = {"OS_SCHEDULER__WORKRES": "3", "OS_SCHEDULER__WORKERS": "3",
           "OS_DEFAULT__DEBUG": "1", "OS_OSLO_MESSAGING_RABBIT__SSL": "1", "OS_CLOUD": "x"}
    report, _ = unknown(tmp_path, "[DEFAULT]\n", environ=env)
    assert [(p.option, p.source) for p in report.errors] == [
        ("WORKRES", "OS_SCHEDULER__WORKRES")]


def test_unknown_namespace_is_refused(tmp_path):
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\n")
    with pytest.raises(ValueError) as info:
        validate.unknown_keys(nova_conf(), [str(path)],
                              dataclasses.replace(NOVA_SCHEDULER, namespaces=("no.such",)))
    assert "no.such" in str(info.value) and "gen_known_opts" in str(info.value)


# -- nova's full sample config -----------------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "nova.conf.sample"
    args = [GENERATOR, "--output-file", str(out)]
    for ns in NOVA_SCHEDULER.namespaces:
        args += ["--namespace", ns]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    return out.read_text()


def uncommented(sample, placeholders=True):
    """Every option of the sample set, at its default."""
    lines = []
    for line in sample.splitlines():
        m = re.match(r"^#([A-Za-z0-9_-]+) = (.*)$", line)
        if m and (placeholders or not m.group(2).startswith("<")):
            line = "%s = %s" % m.groups()
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_full_sample_has_no_unknown_key(sample, tmp_path):
    text = uncommented(sample)
    assert len(re.findall(r"(?m)^[a-z]", text)) > 1000
    report, _ = unknown(tmp_path, text)
    assert report == validate.ValidationReport()


def test_full_sample_with_every_deprecated_name_has_only_warnings(sample, tmp_path):
    text = uncommented(sample)
    deprecated = re.findall(r"(?m)^# Deprecated group/name - \[(\w+)\]/(\S+)$", sample)
    assert len(deprecated) > 20
    text += "".join("[%s]\n%s = 1\n" % pair for pair in deprecated)
    report, _ = unknown(tmp_path, text)
    assert report.errors == ()
    # [key_manager] auth_url, the old name of [barbican] auth_endpoint, is
    # also a current option of [key_manager] (castellan's credentials).
    assert {(p.group, p.option) for p in report.warnings} == set(deprecated) - {
        ("key_manager", "auth_url")}


def test_full_sample_values_pass_the_eager_check_fast(sample, tmp_path):
    conf, path = parsed(tmp_path, uncommented(sample, placeholders=False))
    start = time.perf_counter()
    report = validate.eager_check(conf, [path])
    took = time.perf_counter() - start
    assert report.errors == ()
    assert took < 0.5


@pytest.mark.parametrize("service", [NOVA_SCHEDULER, CINDER_SCHEDULER],
                         ids=lambda s: s.known_opts)
def test_known_opts_data_is_current(tmp_path, service):
    out = tmp_path / service.known_opts
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_known_opts.py"),
                    service.known_opts, str(out)], check=True, capture_output=True, timeout=180)
    with open(validate.known_opts_path(service)) as f:
        current = json.load(f)
    assert current == json.loads(out.read_text()), (
        "%s is stale: run tools/gen_known_opts.py" % validate.known_opts_path(service))


def test_stale_data_is_checks_finding_not_the_launchs(tmp_path, monkeypatch):
    """Known-options data older than the installed libraries: ``check`` says so
    (validate.stale); the launch's key matching does not read ten distributions'
    metadata on every start."""
    monkeypatch.setattr(validate.importlib.metadata, "version", lambda dist: "0.0.0")
    validate.stale.cache_clear()
    try:
        warnings = validate.stale(NOVA_SCHEDULER)
        assert warnings and all("run tools/gen_known_opts.py" in w.message for w in warnings)
        report, _ = unknown(tmp_path, "[DEFAULT]\ndebug = true\n")
        assert not any("gen_known_opts" in w.message for w in report.warnings)
    finally:
        validate.stale.cache_clear()


# Only options given a value are read (the rest hold the code's defaults): every
# way of giving one must count, or a bad value would pass unread.
def _conf_with_deprecated(tmp_path, text, *extra):
    conf = cfg.ConfigOpts()
    conf.register_opts([
        cfg.IntOpt("interval", deprecated_name="old_interval"),
        cfg.IntOpt("moved", deprecated_group="legacy"),
        cfg.IntOpt("with_dashes"),
        cfg.IntOpt("derived", default="$interval"),
        cfg.IntOpt("unset_and_fine", default=3),
    ], group="grp")
    path = tmp_path / "x.conf"
    path.write_text(text)
    conf(["--config-file", str(path)] + list(extra), default_config_files=[],
         default_config_dirs=[])
    return conf, str(path)


@pytest.mark.parametrize("text, env, bad", [
    ("[grp]\ninterval = abc\n", {}, {"interval", "derived"}),
    ("[grp]\nold_interval = abc\n", {}, {"interval", "derived"}),
    ("[legacy]\nmoved = abc\n", {}, {"moved"}),
    ("[grp]\nwith-dashes = abc\n", {}, set()),    # not the option: an unknown key
    ("[GRP]\nwith_dashes = abc\n", {}, {"with_dashes"}),
    ("", {"OS_GRP__WITH_DASHES": "abc"}, {"with_dashes"}),
    ("", {"OS_GRP__INTERVAL": "abc"}, {"interval", "derived"}),
], ids=["name", "deprecated-name", "deprecated-group", "dashes", "group-case", "env",
        "env-substituted"])
def test_every_way_of_giving_a_value_is_read(tmp_path, monkeypatch, text, env, bad):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conf, path = _conf_with_deprecated(tmp_path, text)
    # what oslo.config itself makes of it, option by option: the oracle
    oracle = set()
    for name in ("interval", "moved", "with_dashes", "derived", "unset_and_fine"):
        try:
            conf.grp[name]
        except (ValueError, cfg.Error):
            oracle.add(name)
    assert oracle == bad
    assert {p.option for p in validate.eager_check(conf, [path]).errors} == bad


def test_a_config_dir_file_value_is_read(tmp_path):
    conf, _ = _conf_with_deprecated(tmp_path, "")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "10.conf").write_text("[grp]\nwith_dashes = abc\n")
    conf, path = _conf_with_deprecated(tmp_path, "", "--config-dir", str(tmp_path / "d"))
    files = [path, str(tmp_path / "d" / "10.conf")]
    assert {p.option for p in validate.eager_check(conf, files).errors} == {"with_dashes"}
