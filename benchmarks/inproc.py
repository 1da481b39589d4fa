"""In-process cost of each hardening phase, run in a fresh interpreter.

``python -m benchmarks.inproc phases CONF AUDIT_DIR [--budget S]`` prints one
JSON object: for each phase the cost of its first call (what a launch pays:
one call, cold caches) and the median of many calls, in microseconds.  The
phases are called as ``safe_launch/launcher.py`` calls them, in its order,
on the real configuration ``CONF`` after a real parse.

``python -m benchmarks.inproc imports`` prints the milliseconds spent
importing safe_launch's launch-path modules once their third-party
dependencies are loaded (to show what a missing bytecode cache costs).
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

# safe_launch modules a launch imports before the service is created.
LAUNCH_MODULES = (
    "safe_launch", "safe_launch.launcher", "safe_launch.argv", "safe_launch.parse",
    "safe_launch.opts", "safe_launch.configfiles", "safe_launch.validate",
    "safe_launch.resources", "safe_launch.workers", "safe_launch.audit",
    "safe_launch.masking", "safe_launch.events", "safe_launch.errors",
    "safe_launch.signals", "safe_launch.sdnotify", "safe_launch.journal",
    "safe_launch.spec", "safe_launch.crashloop", "safe_launch.supervise",
    "safe_launch.patching", "safe_launch.reload", "safe_launch.cadf",
    "safe_launch.hygiene", "safe_launch.procctl", "safe_launch.importpaths",
)


def clock_us(fn):
    start = time.perf_counter_ns()
    value = fn()
    return value, (time.perf_counter_ns() - start) / 1000.0


def repeat_us(fn, budget, min_n=15, max_n=5000):
    """Median and count of calls to ``fn`` within ``budget`` seconds (at least min_n)."""
    samples = []
    deadline = time.monotonic() + budget
    while len(samples) < max_n and (len(samples) < min_n or time.monotonic() < deadline):
        samples.append(clock_us(fn)[1])
    return statistics.median(samples), len(samples)


def phases(conf_path, audit_dir, budget):
    from safe_launch import argv as argvmod
    from safe_launch import audit
    from safe_launch import configfiles
    from safe_launch import events
    from safe_launch import hygiene
    from safe_launch import launcher
    from safe_launch import masking
    from safe_launch import parse
    from safe_launch import resources
    from safe_launch.spec import NOVA_SCHEDULER as spec
    from safe_launch import validate
    from safe_launch import workers

    args = ["--config-file", conf_path]
    launch = launcher.Launch(spec, args, sinks=[])
    conf, load_us = clock_us(lambda: parse.load_options(spec))
    launch.conf = conf
    denied = conf.safe_launch.denied_cli_options

    def guard():
        return argvmod.guard(args, argvmod.cli_opts_of(conf), denied=denied)

    def files_before():
        files = [configfiles.accept(p, k, "off", decision, os.environ)
                 for p, k in configfiles.files_to_check(decision, spec.project, spec.binary,
                                                        os.environ)]
        validate.config_source_check(files, os.environ)
        return files

    def files_after():
        # validate.check(): the file part
        policy = conf.safe_launch
        paths = [item for c in (None, conf) for item in configfiles.files_to_check(
            decision, spec.project, spec.binary, os.environ, conf=c)]
        records = [configfiles.accept(p, k, policy.file_policy, decision, os.environ,
                                      policy.service_user) for p, k in paths]
        configfiles.verify_unchanged(before)
        return records

    def probe_and_bound():
        policy = conf.safe_launch
        return workers.bound(conf.scheduler.workers, resources.probe(),
                             policy=policy.worker_bound,
                             per_worker_memory=policy.worker_memory_mb * 2 ** 20,
                             threads_per_worker=policy.worker_threads,
                             rounding=policy.cpu_rounding, max_workers=policy.max_workers)

    cold, warm, count, extra = {}, {}, {}, {}
    decision, cold["guard"] = clock_us(guard)
    assert decision.ok, decision.problems
    launch.decisions["guard"] = decision
    before, cold["files_before_parse"] = clock_us(files_before)

    # launcher.Launch.apply_hygiene(): the raw options, then the whole step
    def hygiene_step():
        settings = hygiene.settings(before, os.environ)
        return hygiene.apply(settings, os.environ, launch.inherited_fds, before, spec,
                             launch.kernel, list(sys.path))
    applied, cold["hygiene"] = clock_us(hygiene_step)
    assert applied.ok, applied.problems
    _, parse_us = clock_us(lambda: parse.parse(spec, conf, list(decision.argv), before))

    # every secret of the accepted files, as the guard phase registers them
    _, cold["register_secrets"] = clock_us(lambda: launch.register_secrets(before))
    records, cold["files_after_parse"] = clock_us(files_after)
    report, cold["eager_validation"] = clock_us(lambda: validate.eager_check(conf, records))
    assert report.ok, report.errors
    keys, cold["unknown_keys"] = clock_us(
        lambda: validate.unknown_keys(conf, records, spec, environ=os.environ))
    assert keys.ok, keys.errors
    # the typed checks of the lazily registered options, and what the service
    # cannot start without (issue 13's new checks)
    lazy, cold["typed_and_required"] = clock_us(
        lambda: validate.lazy_check(conf, records, os.environ, spec))
    assert lazy.ok, lazy.errors

    def secrets():
        # launcher.Launch.phase_validate(): secret values of the parsed configuration
        # for the masker.  It reads every option through oslo.config's value
        # cache, which eager validation (get_location) does not fill: the
        # repeated calls clear that private cache to measure the launch's case.
        conf._ConfigOpts__cache.clear()
        return masking.secret_values_from_conf(conf)
    _, cold["secret_values"] = clock_us(lambda: masking.secret_values_from_conf(conf))
    _, cold["resource_probe"] = clock_us(resources.probe)
    bound, cold["probe_and_worker_bound"] = clock_us(probe_and_bound)
    extra["options_read"] = len(validate.registered_opts(conf))
    extra["effective_workers"] = bound.effective

    path = os.path.join(audit_dir, "bench-audit.jsonl")
    sink, cold["audit_open"] = clock_us(lambda: audit.AuditFile(path).open())
    identity = launcher.identity(spec, args)

    def record():
        sink.handle(events.Event(launch_id="bench", seq=1, ts=events.utc_now(),
                                 event=events.LAUNCH_STARTED, outcome="pending",
                                 summary="launching nova-scheduler", data=identity))
    _, cold["audit_record"] = clock_us(record)
    # One launch event as the launcher sends it: masked, to the console
    # (here /dev/null) and to the audit file.
    devnull = open(os.devnull, "w")
    emitter = events.Emitter([events.ConsoleSink(spec.prog, stream=devnull), sink],
                             mask=launch.masker.mask)
    validation = validate.Validation(0, (), (), tuple(configfiles.as_record(r) for r in records),
                                     ())

    def emit():
        emitter.emit(events.CONFIG_VALIDATED, summary=validation.summary(), phase="validate",
                     decision=dataclasses.asdict(validation))
    _, cold["emit_event"] = clock_us(emit)

    runs = {
        "guard": guard,
        "hygiene": hygiene_step,
        "files_before_parse": files_before,
        "files_after_parse": files_after,
        "eager_validation": lambda: validate.eager_check(conf, records),
        "unknown_keys": lambda: validate.unknown_keys(conf, records, spec, environ=os.environ),
        "typed_and_required": lambda: validate.lazy_check(conf, records, os.environ, spec),
        "secret_values": secrets,
        "register_secrets": lambda: launch.register_secrets(before),
        "resource_probe": resources.probe,
        "probe_and_worker_bound": probe_and_bound,
        "audit_record": record,
        "emit_event": emit,
        "validation_as_launcher": lambda: validate.check(conf, decision, spec, os.environ,
                                                         checked=before),
    }
    for name, fn in runs.items():
        if fn is not None:
            warm[name], count[name] = repeat_us(fn, budget)

    settings = hygiene.settings(before, os.environ)

    # launcher.Launch.phase_create(): every module loaded once nova's service
    # is created (its import, not measured, is what stock pays too).
    import nova.scheduler.manager   # noqa: F401
    import nova.service             # noqa: F401

    def import_paths():
        return hygiene.check_loaded(settings, sys.modules, spec, launch.kernel)
    checked, cold["import_paths"] = clock_us(import_paths)
    assert checked.ok, checked.problems
    warm["import_paths"], count["import_paths"] = repeat_us(import_paths, budget)
    extra["import_paths"] = {"modules": checked.modules, "paths": checked.paths,
                             "import_path_check": settings.import_path_check}
    sink.close()
    devnull.close()
    return {"first_call_us": cold, "median_us": warm, "iterations": count,
            "reference_us": {"load_options (nova.conf import; stock imports it too)": load_us,
                             "parse (one CONF() call; stock parses twice)": parse_us},
            "extra": extra}


def imports():
    from oslo_config import cfg, types     # noqa: F401  dependencies, not measured
    from oslo_log import log, versionutils   # noqa: F401
    import importlib
    start = time.perf_counter()
    for name in LAUNCH_MODULES:
        importlib.import_module(name)
    return {"import_ms": (time.perf_counter() - start) * 1000}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inproc")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("phases")
    p.add_argument("conf")
    p.add_argument("audit_dir")
    p.add_argument("--budget", type=float, default=1.0,
                   help="seconds of repeated calls per phase")
    sub.add_parser("imports")
    args = parser.parse_args(argv)
    if args.mode == "phases":
        result = phases(os.path.abspath(args.conf), args.audit_dir, args.budget)
    else:
        result = imports()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
