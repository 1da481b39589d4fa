"""Round 4 hostile inputs, unit level."""

import os

from oslo_config import cfg
from oslo_log import log as logging

from safe_launch import service
from safe_launch import spec as specs


def test_oslo_log_names_the_program_after_the_spec(tmp_path):
    """Under ``python -c`` the outermost frame is ``<string>``: oslo.log's file
    under log_dir, syslog ident and journal identifier are the spec's binary."""
    for spec in (specs.NOVA_SCHEDULER, specs.NOVA_CONDUCTOR, specs.CINDER_SCHEDULER):
        service.name_binary(spec)
        conf = cfg.ConfigOpts()
        logging.register_options(conf)
        conf([], project="x")
        conf.set_override("log_dir", str(tmp_path))
        assert logging._get_log_file_path(conf) == os.path.join(
            str(tmp_path), spec.binary + ".log")
