"""The ``[safe_launch]`` option group: every policy knob, in one place.

Read from the same configuration files as the service.  Exposed to
oslo-config-generator through the ``safe_launch`` namespace
(``oslo.config.opts`` entry point -> :func:`list_opts`).
"""

from oslo_config import cfg

from safe_launch import workers

GROUP = "safe_launch"

launch_opts = [
    cfg.BoolOpt(
        "enforce", default=True,
        help="Refuse to launch when a hardening rule is violated. Set to "
             "false to only report violations (stderr, audit trail) while "
             "rolling safe_launch out gradually; usage errors (exit 64) are "
             "always fatal."),
    cfg.IntOpt(
        "crash_loop_max_failures", default=3, min=1,
        help="Stop the service and exit 75 when this many workers in a row "
             "die before becoming ready (at any pace), or end by themselves "
             "within crash_loop_window seconds of becoming ready. Stock "
             "launchers re-fork a failing worker forever, so neither systemd "
             "nor alerting ever sees the failure."),
    cfg.IntOpt(
        "crash_loop_window", default=120, min=1,
        help="A worker that ends by itself (error exit, core-dumping signal) "
             "this many seconds or sooner after becoming ready counts as a "
             "failure; one that served longer ends the run of failures. "
             "Kills from outside (SIGKILL, the OOM killer) and restarts for "
             "a reload never count."),
]

stop_opts = [
    cfg.IntOpt(
        "start_timeout", default=180, min=1,
        help="Seconds the service may take, from its creation in the master "
             "(nova's scheduler reads the API database there) until the first "
             "worker is ready (its services row written, its RPC server "
             "running). Meanwhile STATUS= names "
             "what the starting workers wait on (the database, the message "
             "bus); then the launcher stops the service and exits 75 naming "
             "it. Stock waits forever on a paused database or a broker that "
             "is down. Well above a normal start on MariaDB and RabbitMQ "
             "(seconds), and above oslo.db's default retries (10 x 10 s)."),
    cfg.IntOpt(
        "reload_timeout", default=180, min=1,
        help="Seconds the workers a reload (SIGHUP) restarts may take to serve "
             "again. Until then systemd sees RELOADING=1 and later SIGHUPs are "
             "coalesced into one, so a reload must not wait forever (a broker "
             "paused meanwhile): at the deadline, when no worker serves, the "
             "launcher stops the service and exits 75 naming what the workers "
             "wait on, as start_timeout does; when some serve, it says READY=1 "
             "with STATUS= naming how many, and records reload.timed_out."),
    cfg.StrOpt(
        "reload_immutable_changes", default="warn", choices=[
            ("warn", "the reload goes ahead; reload.accepted names the changed "
                     "immutable options, which keep their old values"),
            ("refuse", "the reload is refused (reload.refused) while any "
                       "immutable option changed")],
        help="What SIGHUP does when an option that is not mutable changed. "
             "oslo.config applies only mutable options on reload: a changed "
             "database password is used only after the next restart, which "
             "then fails if it is wrong. Every reload record names which "
             "changed options it applies and which it does not."),
    cfg.IntOpt(
        "stop_timeout", default=45, min=1,
        help="Seconds a stop (SIGTERM, SIGINT, a crash loop) may take before "
             "the launcher kills the workers and exits. Below systemd's "
             "default TimeoutStopSec (90 s), so the launcher, not systemd's "
             "SIGKILL, ends the stop and records it; oslo.service's own "
             "graceful_shutdown_timeout (60 s) waits on a paused broker or "
             "database longer than that."),
]

input_opts = [
    cfg.ListOpt(
        "denied_cli_options", default=["shell_completion"],
        help="Command-line options refused outright (dest names, e.g. "
             "log_config_append). shell_completion is denied because its "
             "template is missing from nova's wheel."),
    cfg.StrOpt(
        "file_policy", default="default", choices=[
            ("default", "regular files owned by root or the service user, "
                        "not writable by group or others"),
            ("strict", "OpenStack security guide: owned by root, group of "
                       "the service, mode 0640 or tighter"),
            ("off", "no ownership or mode checks (type checks remain)")],
        help="Rule for files the service loads code or secrets from: config "
             "files, the logging config (fileConfig evaluates Python from "
             "it) and the policy file. Whoever can write them runs code as "
             "the service."),
    cfg.StrOpt(
        "service_user", default=None,
        help="User the service runs as, trusted to own its files besides "
             "root. Defaults to the effective user of the launcher. A "
             "launcher started as root switches to this account "
             "(supplementary groups, group, user) before the parse, so the "
             "master and every worker serve as it; every file it read must "
             "be readable by the account. Read before the parse, raw (as "
             "audit_log is)."),
    cfg.StrOpt(
        "unknown_keys", default="error", choices=["error", "warn", "ignore"],
        help="What to do with a key in a known section that no registered "
             "option matches. oslo.config ignores such typos silently: a "
             "misspelled TLS key in [oslo_messaging_rabbit] leaves TLS off."),
    cfg.StrOpt(
        "unknown_sections", default="warn", choices=["error", "warn", "ignore"],
        help="What to do with a whole section no option group matches."),
    cfg.BoolOpt(
        "allow_config_source", default=False,
        help="Allow [DEFAULT] config_source, which makes oslo.config fetch "
             "configuration from a URL at parse time."),
]

hygiene_opts = [
    cfg.BoolOpt(
        "allow_root", default=False,
        help="Serve as root when started as root without service_user. "
             "Refused by default (exit 78): a compromised service running as "
             "root owns the host. The demo's and the tests' sandboxes set it. "
             "Like every option here, read before the parse, raw (from "
             "OS_SAFE_LAUNCH__<OPT>, else the last value in the files)."),
    cfg.BoolOpt(
        "allow_core_dumps", default=False,
        help="Leave core dumps and ptrace by the same user possible. By "
             "default RLIMIT_CORE is (0, 0) and the process is not dumpable "
             "in the master and every worker: a core file or a same-uid "
             "process would otherwise read the database password from the "
             "service's memory or /proc/PID/environ. What LimitCORE=0 does "
             "under systemd, without systemd."),
    cfg.BoolOpt(
        "no_new_privileges", default=True,
        help="Set no_new_privs (NoNewPrivileges=yes without systemd): no "
             "setuid binary or file capability the service execs can gain "
             "privileges. Not set for a service whose spec needs privilege "
             "gain (sudo rootwrap, privsep)."),
    cfg.StrOpt(
        "umask", default="027", regex=r"^0?[0-7]{3}$",
        help="The process umask (octal), set before any file is created: "
             "lock files, sqlite journals, logs and the audit trail are not "
             "readable by others. UMask=0027 without systemd."),
    cfg.BoolOpt(
        "close_inherited_fds", default=True,
        help="Close every descriptor inherited at exec except 0, 1, 2 and "
             "those systemd passes (LISTEN_FDS for LISTEN_PID), before the "
             "parse: a leaked descriptor (a database socket, a secrets file "
             "of the parent) stays open in the master and every worker."),
    cfg.ListOpt(
        "allowed_environment", default=[],
        help="Environment variables allowed by name although they inject "
             "code or change what is loaded: LD_PRELOAD, LD_LIBRARY_PATH, "
             "LD_AUDIT (allowed anyway when every path they name is owned by "
             "root and writable by no one else), PYTHONPATH, PYTHONHOME, "
             "PYTHONSTARTUP, PYTHONINSPECT, PYTHONUSERBASE, PYTHONBREAKPOINT, "
             "PYTHONEXECUTABLE, PYTHONPLATLIBDIR, PYTHONWARNINGS. The console "
             "scripts run Python isolated (-I) anyway; a program the service "
             "executes would honour them."),
    cfg.StrOpt(
        "import_path_check", default="service", choices=[
            ("service", "the sys.path directories; the directory and bytecode "
                        "directory of every module loaded by the time the "
                        "service is created; the files of the service's own "
                        "package, oslo.* and safe_launch (about 450 paths "
                        "for nova: within the 10 ms budget)"),
            ("all", "also the file of every other loaded module (about "
                    "2,500 paths for nova: 10-25 ms where a stat costs "
                    "4-10 us)"),
            ("off", "no import-path check")],
        help="Refuse a path Python loads the service's code from that group "
             "or others may write, or a non-root service account owns: "
             "whoever can change the service's code keeps a foothold across "
             "restarts. A .pth adding such a directory to sys.path is caught "
             "the same way.")
]

worker_opts = [
    cfg.StrOpt(
        "worker_bound", default="clamp", choices=[
            ("clamp", "lower the worker count to what the resources allow"),
            ("refuse", "exit 78 when the configured count exceeds the bound"),
            ("off", "use the configured count as is")],
        help="How the worker count is bounded by the CPUs, memory and "
             "process slots this service may really use (affinity, cgroup "
             "quotas and limits). Stock nova forks one worker per host CPU "
             "and has no upper bound."),
    cfg.IntOpt(
        "max_workers", default=None, min=1,
        help="An absolute ceiling on the worker count, whatever the "
             "resources allow: each worker holds its own database and "
             "message-bus connections."),
    cfg.IntOpt(
        "worker_memory_mb", default=workers.WORKER_MEMORY_MB, min=1,
        help="A worker's own memory (MiB): what each worker adds to the "
             "service's memory, used to bound the worker count by the memory "
             "headroom (the limit minus what the master uses when the launcher "
             "probes, minus a reserve of max(96 MiB, 10 percent of the limit) for "
             "the master's growth and the page cache). Not RSS: most of a "
             "forked worker's pages are shared with the master. Measured for "
             "a nova 34 scheduler worker on this project's machines (USS/PSS "
             "from /proc/PID/smaps_rollup): 23/52 MB at idle, 70-73/83-85 MB "
             "once it has served RPC calls (its reference counts and garbage "
             "collector write to the shared pages, so they are copied); the "
             "master about 130 MB RSS. Default: the loaded USS plus 10 percent. "
             "Large clouds: the scheduler's host-state cache grows with the "
             "compute nodes and instances, so measure a worker after a "
             "scheduling run (the sum of Private_Clean and Private_Dirty in "
             "its smaps_rollup) and set this to that figure plus 10 percent."),
    cfg.IntOpt(
        "worker_threads", default=32, min=1,
        help="Threads one worker is expected to run, used to bound the "
             "worker count by pids.max (which counts threads)."),
    cfg.StrOpt(
        "cpu_rounding", default="ceil", choices=["ceil", "floor", "nearest"],
        help="How a fractional CPU limit (e.g. a 2.5 CPU quota) becomes a "
             "worker count."),
]

patching_opts = [
    cfg.ListOpt(
        "monkey_patch_allowlist",
        default=["os", "select", "socket", "subprocess", "thread", "time"],
        help="eventlet.monkey_patch() targets patched in eventlet mode, by "
             "the keyword names eventlet accepts (os, select, socket, thread, "
             "time, psycopg, MySQLdb, builtins, subprocess). Everything else "
             "is explicitly left unpatched, and the result is verified. The "
             "default is what stock nova patches: socket, select and time so "
             "RPC, database and HTTP I/O yield to other greenthreads; thread, "
             "which oslo.service's eventlet backend requires; os and "
             "subprocess so processutils commands do not block the hub. "
             "psycopg is left out: it is patched only when psycopg2 is "
             "installed. Ignored in threading mode, where nothing may be "
             "patched."),
    cfg.BoolOpt(
        "strict_patching", default=False,
        help="Refuse to launch when modules with known monkey-patching "
             "problems (urllib3, oslo_context.context) were imported before "
             "patching, instead of warning."),
]

audit_opts = [
    cfg.StrOpt(
        "audit_log", default="/var/log/nova/safe-launch-audit.jsonl",
        help="Hash-chained JSON-lines audit trail of every launch, an "
             "absolute path (a relative one would follow the working "
             "directory). The default is the service's: /var/log/<project>/safe-launch-"
             "audit.jsonl (/var/log/cinder/... for cinder-scheduler-safe). Its "
             "anchor, the same path plus '.anchor', names the last record so "
             "that removing records from the end is detected: rotate or "
             "remove both together."),
    cfg.BoolOpt(
        "audit_required", default=True,
        help="Refuse to launch (exit 73) when the audit log cannot be opened."),
    cfg.StrOpt(
        "audit_key_file", default=None,
        help="File holding a key readable only by the service; when set, "
             "each audit record also carries an HMAC, so a rewritten tail is "
             "detected."),
    cfg.BoolOpt(
        "audit_notifications", default=True,
        help="Publish CADF audit events (audit.safe_launch.<event>) through "
             "oslo.messaging's notifier on the service's own transport."),
    cfg.BoolOpt(
        "audit_journal", default=True,
        help="Also send audit records to the system journal (or syslog) "
             "when present."),
]

ALL_OPTS = (launch_opts + stop_opts + input_opts + hygiene_opts + worker_opts + patching_opts
            + audit_opts)


def register_opts(conf):
    conf.register_opts(ALL_OPTS, group=GROUP)


def list_opts():
    return [(GROUP, ALL_OPTS)]
