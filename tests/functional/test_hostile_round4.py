"""Hostile inputs, round 4: what the installed trampolines do end to end.

* ``--log-dir`` without ``--log-file``: oslo.log names the file after the
  outermost frame, which under the trampoline's ``python -I -c`` is
  ``<string>``; every safe console script must write ``<log_dir>/<binary>.log``
  as the stock script does.
"""

import os
import signal

from tests.functional.conftest import bin_path, ready, until


def test_log_dir_alone_writes_the_binarys_log_file(make_env, launch, tmp_path):
    env = make_env(workers=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    proc = launch([bin_path("nova-scheduler-safe"), "--config-file", env.conf,
                   "--log-dir", str(logs)])
    assert until(lambda: ready(proc), 90), proc.output()[-3000:]
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    assert sorted(os.listdir(logs)) == ["nova-scheduler.log"]
    with open(logs / "nova-scheduler.log") as f:
        assert f.read().strip(), "the log file is empty"


def test_log_dir_in_the_file_names_the_conductors_log(make_env, launch, tmp_path):
    env = make_env(workers=1)
    logs = tmp_path / "logs"
    logs.mkdir()
    with open(env.conf) as f:
        text = f.read()
    with open(env.conf, "w") as f:
        f.write(text.replace("[DEFAULT]\n", "[DEFAULT]\nlog_dir = %s\n" % logs, 1))
    proc = launch([bin_path("nova-conductor-safe"), "--config-file", env.conf])
    assert until(lambda: ready(proc, "nova-conductor-safe:"), 90), proc.output()[-3000:]
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()[-3000:]
    assert sorted(os.listdir(logs)) == ["nova-conductor.log"]
