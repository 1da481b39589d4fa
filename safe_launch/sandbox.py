"""A throwaway nova or cinder deployment for demos and tests.

``python -m safe_launch.sandbox DIR [--transport-url URL]`` writes
``DIR/nova.conf`` pointing at sqlite databases in DIR and prepares them with
nova's own ``nova-manage`` (api_db sync, cell_v2 map_cell0, create_cell,
db sync); ``--project cinder`` writes ``DIR/cinder.conf`` and its sqlite
database, made by ``cinder-manage db sync``.  The default transport is
oslo.messaging's in-process ``fake:/``.
"""

import argparse
import os
import shutil
import subprocess
import sys

NOVA_CONF = """\
[DEFAULT]
transport_url = {transport_url}
state_path = {dir}
rpc_ping_enabled = true
host = {host}

[api_database]
connection = sqlite:///{dir}/nova_api.sqlite

[database]
connection = sqlite:///{dir}/nova_cell1.sqlite

[oslo_concurrency]
lock_path = {dir}/lock

[scheduler]
{workers_line}

# Placement is never reached here: the scheduler only needs its client to load.
[placement]
auth_type = password
auth_url = http://127.0.0.1:9/identity/v3
username = placement
password = sandbox-placement-secret
project_name = service
user_domain_name = Default
project_domain_name = Default

[safe_launch]
audit_log = {dir}/audit.jsonl
"""


# The scheduler waits for volume services' capabilities before start()
# returns ([DEFAULT] scheduler_driver_init_wait_time, 60 s): a sandbox has none.
CINDER_CONF = """\
[DEFAULT]
transport_url = {transport_url}
state_path = {dir}
host = {host}
scheduler_driver_init_wait_time = 1

[database]
connection = sqlite:///{dir}/cinder.sqlite

[oslo_concurrency]
lock_path = {dir}/lock

[safe_launch]
audit_log = {dir}/audit.jsonl
"""


def manage_command(name):
    """``<project>-manage`` next to the running interpreter, else on PATH."""
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.path.exists(local) else shutil.which(name)


def write_conf(directory, transport_url="fake:/", workers=2, host="sandbox",
               extra=""):
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "lock"), mode=0o750, exist_ok=True)
    path = os.path.join(directory, "nova.conf")
    with open(path, "w") as f:
        workers_line = "" if workers is None else "workers = %d" % workers
        f.write(NOVA_CONF.format(dir=directory, transport_url=transport_url,
                                 workers_line=workers_line, host=host) + extra)
    os.chmod(path, 0o640)
    return path


def prepare(directory, transport_url="fake:/", workers=2, host="sandbox",
            extra=""):
    """Write nova.conf and create the databases; return the conf path."""
    conf = write_conf(directory, transport_url, workers, host, extra)
    directory = os.path.dirname(conf)
    manage = manage_command("nova-manage")
    if manage is None:
        raise RuntimeError("nova-manage not found: pip install 'safe_launch[nova]'")
    steps = [
        ["api_db", "sync"],
        ["cell_v2", "map_cell0", "--database_connection",
         "sqlite:///%s/nova_cell0.sqlite" % directory],
        ["cell_v2", "create_cell", "--name", "cell1", "--database_connection",
         "sqlite:///%s/nova_cell1.sqlite" % directory,
         "--transport-url", transport_url],
        ["db", "sync"],
    ]
    for step in steps:
        subprocess.run([manage, "--config-file", conf] + step, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return conf


def write_cinder_conf(directory, transport_url="fake:/", host="sandbox", extra=""):
    directory = os.path.abspath(directory)
    os.makedirs(os.path.join(directory, "lock"), mode=0o750, exist_ok=True)
    path = os.path.join(directory, "cinder.conf")
    with open(path, "w") as f:
        f.write(CINDER_CONF.format(dir=directory, transport_url=transport_url, host=host)
                + extra)
    os.chmod(path, 0o640)
    return path


def prepare_cinder(directory, transport_url="fake:/", host="sandbox", extra=""):
    """Write cinder.conf and create its database (cinder-manage db sync); the conf path."""
    conf = write_cinder_conf(directory, transport_url, host, extra)
    manage = manage_command("cinder-manage")
    if manage is None:
        raise RuntimeError("cinder-manage not found: pip install 'safe_launch[cinder]'")
    subprocess.run([manage, "--config-file", conf, "db", "sync"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return conf


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m safe_launch.sandbox",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--transport-url", default="fake:/")
    parser.add_argument("--project", choices=("nova", "cinder"), default="nova")
    parser.add_argument("--workers", type=int, default=2,
                        help="[scheduler] workers (0: unset, nova's default)")
    args = parser.parse_args(argv)
    if args.project == "cinder":
        print(prepare_cinder(args.directory, args.transport_url))
    else:
        print(prepare(args.directory, args.transport_url, args.workers or None))


if __name__ == "__main__":
    main()
