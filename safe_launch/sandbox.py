"""A throwaway nova or cinder deployment for demos and tests.

``python -m safe_launch.sandbox DIR [--transport-url URL]`` writes
``DIR/nova.conf`` pointing at sqlite databases in DIR and prepares them with
nova's own ``nova-manage`` (api_db sync, cell_v2 map_cell0, create_cell,
db sync); ``--project cinder`` writes ``DIR/cinder.conf`` and its sqlite
database, made by ``cinder-manage db sync``.  The default transport is
oslo.messaging's in-process ``fake:/``.

``--demo`` (tools/demo.sh) also quiets nova's complaints about the
placement service, which a sandbox never has, and removes the earlier
sandboxes beside DIR that no process uses any more.

``databases`` (the functions' argument) puts the api, cell0 and cell1
databases elsewhere, MariaDB say: any SQLAlchemy URL nova-manage accepts.
"""

import argparse
import os
import shutil
import subprocess
import sys

# Marks a directory this module made, so cleaning never removes anything else.
MARKER = ".safe-launch-sandbox"
# nova's scheduler asks keystone for placement at start and logs an ERROR and
# two WARNINGs when there is none; a sandbox has none by design.
QUIET_PLACEMENT = ("nova.scheduler.client.report=CRITICAL", "keystoneauth=ERROR",
                   "nova.scheduler.manager=ERROR")

NOVA_CONF = """\
[DEFAULT]
transport_url = {transport_url}
state_path = {dir}
rpc_ping_enabled = true
host = {host}

[api_database]
connection = {api}

[database]
connection = {cell1}

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
# A sandbox is a demo or a test, commonly started as root (CI, containers):
# serving as root is refused otherwise (see safe_launch.hygiene).
allow_root = true
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


def sqlite_databases(directory):
    """The sandbox's own databases: sqlite files in ``directory``."""
    return {name: "sqlite:///%s/nova_%s.sqlite" % (os.path.abspath(directory), name)
            for name in ("api", "cell0", "cell1")}


def write_conf(directory, transport_url="fake:/", workers=2, host="sandbox",
               extra="", databases=None):
    directory = os.path.abspath(directory)
    databases = databases or sqlite_databases(directory)
    os.makedirs(os.path.join(directory, "lock"), mode=0o750, exist_ok=True)
    with open(os.path.join(directory, MARKER), "w"):
        pass
    path = os.path.join(directory, "nova.conf")
    with open(path, "w") as f:
        workers_line = "" if workers is None else "workers = %d" % workers
        f.write(NOVA_CONF.format(dir=directory, transport_url=transport_url,
                                 workers_line=workers_line, host=host,
                                 api=databases["api"], cell1=databases["cell1"]) + extra)
    os.chmod(path, 0o640)
    return path


def prepare(directory, transport_url="fake:/", workers=2, host="sandbox",
            extra="", databases=None):
    """Write nova.conf and create the databases; return the conf path."""
    databases = databases or sqlite_databases(directory)
    conf = write_conf(directory, transport_url, workers, host, extra, databases)
    directory = os.path.dirname(conf)
    manage = manage_command("nova-manage")
    if manage is None:
        raise RuntimeError("nova-manage not found: pip install 'safe_launch[nova]'")
    steps = [
        ["api_db", "sync"],
        ["cell_v2", "map_cell0", "--database_connection", databases["cell0"]],
        ["cell_v2", "create_cell", "--name", "cell1", "--database_connection",
         databases["cell1"], "--transport-url", transport_url],
        ["db", "sync"],
    ]
    for step in steps:
        subprocess.run([manage, "--config-file", conf] + step, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return conf


def demo_extra():
    """The ``[DEFAULT]`` lines of a demo: oslo.log's default levels plus QUIET_PLACEMENT."""
    from oslo_log import log
    quiet = {level.partition("=")[0] for level in QUIET_PLACEMENT}
    levels = [level for level in log.get_default_log_levels()
              if level.partition("=")[0] not in quiet] + list(QUIET_PLACEMENT)
    return ("\n# The sandbox has no placement service: nova's errors about it are expected\n"
            "# and silenced here.\n[DEFAULT]\ndefault_log_levels = %s\n" % ",".join(levels))


def in_use(directory, proc="/proc"):
    """Whether a process names ``directory`` on its command line (a demo still serving)."""
    needle = os.fsencode(os.path.abspath(directory))
    for pid in os.listdir(proc):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue                    # gone meanwhile, or not ours to read
        if any(a == needle or a.startswith(needle + b"/") for a in args):
            return True
    return False


def clean_old(directory, proc="/proc"):
    """Remove the sandboxes beside ``directory`` sharing its name's stem; return them.

    Only directories this module made (MARKER), owned by this user, and
    named on no running process's command line.  ``safe-launch-demo.X``
    has the stem ``safe-launch-demo.``.
    """
    directory = os.path.abspath(directory)
    parent, name = os.path.split(directory)
    stem = name.rpartition(".")[0] + "." if "." in name else name
    removed = []
    for entry in sorted(os.listdir(parent)):
        path = os.path.join(parent, entry)
        if (entry == name or not entry.startswith(stem) or os.path.islink(path)
                or not os.path.isdir(path)):
            continue
        if (os.lstat(path).st_uid != os.geteuid()
                or not os.path.exists(os.path.join(path, MARKER)) or in_use(path, proc)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


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
    parser.add_argument("--demo", action="store_true",
                        help="quiet nova about the missing placement; remove older "
                             "sandboxes beside DIR")
    args = parser.parse_args(argv)
    if args.project == "cinder":
        print(prepare_cinder(args.directory, args.transport_url))
        return
    if args.demo:
        for old in clean_old(args.directory):
            print("removed the old sandbox %s" % old, file=sys.stderr)
    print(prepare(args.directory, args.transport_url, args.workers or None,
                  extra=demo_extra() if args.demo else ""))


if __name__ == "__main__":
    main()
