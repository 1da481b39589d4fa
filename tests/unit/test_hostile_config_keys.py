"""Keys a config file may hold but oslo.config does not apply from a file.

``[DEFAULT] config_dir`` and ``config_file`` are registered (oslo.config's
own command-line options), so the unknown-key check took them as known, and
``check`` said 0: oslo.config loads no file they name when they are set in
a file, yet the value becomes the option's (``conf.config_dir``, which
``find_file`` searches for the policy file).  An operator who wrote
``config_dir = /etc/nova/nova.conf.d`` in nova.conf had nothing of it loaded.
"""

from oslo_config import cfg

from safe_launch.spec import NOVA_SCHEDULER
from safe_launch import validate
from tests.unit.test_validate import nova_conf


def unknown(tmp_path, text):
    path = tmp_path / "nova.conf"
    path.write_text(text)
    return validate.unknown_keys(nova_conf(), [str(path)], NOVA_SCHEDULER), str(path)


def test_the_premise_oslo_config_takes_the_value_but_loads_nothing(tmp_path):
    extra = tmp_path / "extra.d"
    extra.mkdir()
    (extra / "x.conf").write_text("[DEFAULT]\nhost = from-the-dir\n")
    path = tmp_path / "nova.conf"
    path.write_text("[DEFAULT]\nconfig_dir = %s\n" % extra)
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt("host", default="default"))
    conf(["--config-file", str(path)], project="x", default_config_files=[],
         default_config_dirs=[])
    assert conf.host == "default" and conf.config_dir == [str(extra)]


def test_config_dir_and_config_file_in_a_file_are_errors_naming_them(tmp_path):
    report, path = unknown(tmp_path, "[DEFAULT]\nconfig_dir = /etc/nova/nova.conf.d\n"
                                     "config_file = /etc/nova/other.conf\n")
    assert sorted(p.option for p in report.errors) == ["config_dir", "config_file"]
    assert all(p.source == path and "--config-" in p.message for p in report.errors)


def test_the_same_names_in_another_section_are_ordinary_unknown_keys(tmp_path):
    report, _ = unknown(tmp_path, "[scheduler]\nconfig_dir = /x\n")
    assert [p.option for p in report.errors] == ["config_dir"]
    assert "unknown option" in report.errors[0].message
