"""The checked-in etc/safe_launch/safe_launch.conf.sample matches opts.py.

It is regenerated with the same generator config the tox env uses; a stale
sample means an option was added or changed without regenerating it.
"""

import configparser
import difflib
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
GENERATOR_CONF = os.path.join(ROOT, "etc", "safe_launch", "safe_launch-config-generator.conf")
SAMPLE = os.path.join(ROOT, "etc", "safe_launch", "safe_launch.conf.sample")
HINT = ("etc/safe_launch/safe_launch.conf.sample is stale; regenerate it with `tox -e genconfig` "
        "(oslo-config-generator --config-file "
        "etc/safe_launch/safe_launch-config-generator.conf)")


def test_generator_config_writes_the_checked_in_sample():
    conf = configparser.ConfigParser()
    conf.read(GENERATOR_CONF)
    assert conf["DEFAULT"]["namespace"] == "safe_launch"
    assert conf["DEFAULT"]["output_file"] == "etc/safe_launch/safe_launch.conf.sample"


def test_sample_is_current(tmp_path):
    out = tmp_path / "safe_launch.conf.sample"
    # A subprocess: the generator imports the namespace's opts through the
    # installed entry point, exactly as the tox env does.
    subprocess.run([sys.executable, "-m", "oslo_config.generator",
                    "--config-file", GENERATOR_CONF, "--output-file", str(out)],
                   check=True, cwd=ROOT, capture_output=True, timeout=120)
    fresh = out.read_text()
    assert "[safe_launch]" in fresh
    with open(SAMPLE) as f:
        current = f.read()
    diff = "".join(difflib.unified_diff(current.splitlines(True), fresh.splitlines(True),
                                        "checked-in", "regenerated"))
    if current != fresh:
        # pytest.fail, not assert: assertion messages get truncated
        pytest.fail(HINT + "\n" + diff[:4000], pytrace=False)
