"""What each step of the launch path costs, in a fresh interpreter.

``python -m benchmarks.inproc steps CONF`` runs the launcher's own phases
(``safe_launch.launcher.Launch``: guard, parse, validate, workers,
patching, then create) on the real configuration ``CONF``, exactly once,
as a launch does: every lazy import, cache fill and durable write is in the
figures.  It prints one JSON object: the microseconds of each step, each
function timed exclusive of the others timed inside it (so nothing counts
twice), and the reference costs stock pays too (importing nova.conf,
oslo.config's parse, creating nova's service), which are not hardening.

The process is the benchmark's own child, so the hygiene is applied to it
for real (umask, descriptors, core dumps, no_new_privs).

``python -m benchmarks.inproc imports STOCK_MODULES [--compiled]`` prints the
milliseconds spent importing safe_launch's modules once the modules stock
imports too are loaded, from bytecode or compiled (what a missing bytecode
cache costs).
"""

import argparse
import builtins
import collections
import json
import os
import sys
import time

# safe_launch's modules a launch loads before it serves (the bytecode figure).
LAUNCH_MODULES = (
    "safe_launch", "safe_launch.cmd", "safe_launch.cmd.scheduler", "safe_launch.launcher",
    "safe_launch.argv", "safe_launch.parse", "safe_launch.opts", "safe_launch.configfiles",
    "safe_launch.validate", "safe_launch.typed", "safe_launch.requirements",
    "safe_launch.resources", "safe_launch.kernelread", "safe_launch.workers",
    "safe_launch.audit", "safe_launch.trail", "safe_launch.sinks", "safe_launch.serving",
    "safe_launch.masking", "safe_launch.events", "safe_launch.errors", "safe_launch.signals",
    "safe_launch.sdnotify", "safe_launch.journal", "safe_launch.spec", "safe_launch.crashloop",
    "safe_launch.supervise", "safe_launch.patching", "safe_launch.reload", "safe_launch.cadf",
    "safe_launch.hygiene", "safe_launch.procctl", "safe_launch.importpaths",
    "safe_launch.service", "safe_launch.recordtype", "safe_launch.heap", "safe_launch.native",
)
# step -> what it is, for the report; the order is the launch's.
STEPS = (
    ("import", "import of the console script's modules and the launch's set-up "
               "(masker with the declared secrets)"),
    ("guard", "argv guard, file checks before the parse, secrets of argv/OS_*/files, "
              "launch.started"),
    ("hygiene", "process hygiene before the parse (umask, descriptors, environment, "
                "identity, core dumps, no_new_privs, sys.path) and import-path integrity "
                "of nova's whole import graph after create (judged in a thread while "
                "nova's pre-serve step waits on its thread pools: counted is what the "
                "launch waits for its verdict after that step)"),
    ("parse", "safe_launch's part of the parse (pre-parse file problems, the checked "
              "bytes served to oslo.config)"),
    ("validate", "validate, typed checks included (file policy, every value, every key, "
                 "typed checks of lazily registered options, what the service needs, "
                 "secrets for the masker)"),
    ("workers", "resource probe and worker bound"),
    ("patching", "concurrency backend and monkey-patching decision"),
    ("notifications", "the CADF notifier over the service's transport"),
    ("create", "safe_launch's part of the create phase (start deadline, patching "
               "verified, records)"),
    ("trail", "audit trail: open, move after the parse, and every record written "
              "(write + fdatasync)"),
)
# parts of a step, shown under it (already in the step's figure)
PARTS = {"typed": "validate", "import_paths": "hygiene"}
REFERENCE = {
    "stock_imports": "importing modules stock's nova-scheduler imports too",
    "load_options": "importing nova.conf (stock imports it too)",
    "oslo_parse": "oslo.config's parse, CONF() (stock parses too)",
    "nova_create": "creating nova's service, `Service.create` (stock does it too)",
    "before_serve": "nova's pre-serve step, `reset_all_executors()` (stock's serve "
                    "does it too; the import paths are judged meanwhile)",
    "init_backend": "oslo.service's `init_backend`, loading the chosen backend (stock's "
                    "nova.monkey_patch calls it too)",
}


class Steps:
    """Exclusive time per label of the functions wrapped with :meth:`wrap`."""

    def __init__(self):
        self.ns = collections.Counter()
        self._stack = []

    def wrap(self, label, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter_ns()
            self._stack.append(0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter_ns() - start
                inner = self._stack.pop()
                self.ns[label] += elapsed - inner
                if self._stack:
                    self._stack[-1] += elapsed
        return timed

    def time(self, label, fn, *args):
        return self.wrap(label, fn)(*args)


def count_stock_imports(t, stock_modules):
    """Time spent importing modules stock's nova-scheduler imports too goes to
    the reference figure "stock_imports", not to the step that happens to
    import them first (safe_launch needs oslo.config before nova does, say).
    A module stock never imports stays in the step's figure."""
    real = builtins.__import__
    timed = t.wrap("stock_imports", real)

    def hooked(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name not in sys.modules and name in stock_modules:
            return timed(name, globals, locals, fromlist, level)
        return real(name, globals, locals, fromlist, level)
    builtins.__import__ = hooked


def steps(conf_path, stock_modules):
    t = Steps()
    count_stock_imports(t, set(stock_modules) - {"__main__"})
    started = time.perf_counter_ns()
    # What the console script imports (safe_launch.cmd.launch and the launcher)
    from safe_launch import cmd         # noqa: F401
    from safe_launch import launcher
    from safe_launch import spec as specs
    t.ns["import"] += time.perf_counter_ns() - started - t.ns["stock_imports"]

    # The functions that belong to a step other than the phase that calls
    # them, and the reference costs; each is the launcher's own, patched
    # where the launcher looks it up.
    from safe_launch import audit
    from safe_launch import hygiene
    from safe_launch import parse
    from safe_launch import validate
    parse.load_options = t.wrap("load_options", parse.load_options)
    parse.call_parser = t.wrap("oslo_parse", parse.call_parser)
    validate.lazy_check = t.wrap("typed", validate.lazy_check)
    import oslo_service.backend
    oslo_service.backend.init_backend = t.wrap("init_backend",
                                               oslo_service.backend.init_backend)
    audit.AuditFile.handle_all = t.wrap("trail", audit.AuditFile.handle_all)

    hygiene.apply = t.wrap("hygiene", hygiene.apply)

    spec = specs.NOVA_SCHEDULER
    launch = t.time("import", launcher.Launch, spec, ["--config-file", conf_path])
    for method, label in (("open_trail", "trail"), ("move_trail", "trail"),
                          ("open_notifications", "notifications")):
        setattr(launch.sinks, method, t.wrap(label, getattr(launch.sinks, method)))
    # Launch.run()'s prelude, then its phases up to the service's creation and the
    # serve phase's verdict before the fork (run() would go on to fork and wait).
    from safe_launch import sdnotify
    from safe_launch import serving
    from safe_launch import signals
    notifier = t.time("guard", sdnotify.suppress_backend_ready)
    launch.serving = serving.Serving(spec, launch.emitter, notifier, launch.decisions,
                                     fail=launch.failed)
    t.time("guard", signals.install_early)
    for phase, step in (("guard", launch.guard), ("parse", launch.parse),
                        ("validate", launch.validate), ("workers", launch.workers),
                        ("patching", launch.patching),
                        ("notifications", lambda: launch.sinks.open_notifications(launch.conf)),
                        ("create", launch.create)):
        launch.phase = phase
        if phase == "create":       # imports the backend: only once patching chose it
            from safe_launch import service
            service.create = t.wrap("nova_create", service.create)
        t.time(phase, step)
    # The serve phase's start: nova's pre-serve step, then the import-path verdict
    # (the collector's one collection and freeze too: safe_launch.heap).
    from safe_launch import adapters
    t.time("before_serve", adapters.of(spec).before_serve)
    t.time("import_paths", launch.imports_checked)
    t.ns["hygiene"] += t.ns["import_paths"]
    t.ns["validate"] += t.ns["typed"]
    imports = launch.decisions.get("imports")
    # What safe_launch makes the master load beyond stock's modules (its own
    # aside): each costs import time and memory stock does not pay.
    extra_modules = sorted(name for name in sys.modules
                           if name not in stock_modules and not name.startswith("safe_launch"))
    result = {
        "us": {label: t.ns.get(label, 0) / 1000 for label, _ in STEPS},
        "parts_us": {k: t.ns.get(k, 0) / 1000 for k in PARTS},
        "reference_us": {k: t.ns.get(k, 0) / 1000 for k in REFERENCE},
        "extra": {"decisions": sorted(launch.decisions),
                  "import_paths": imports and {"modules": imports.modules,
                                               "paths": imports.paths,
                                               "us": imports.microseconds},
                  "hygiene_us": launch.decisions["hygiene"].microseconds,
                  "records": len(launch.emitter.history),
                  "modules_not_in_stock": extra_modules},
    }
    launch.emitter.close()
    return result


def stock_modules(conf_path):
    """The modules stock nova-scheduler has loaded when it would serve: its
    console script's main() run for real up to ``service.serve``."""
    import nova.cmd.scheduler
    from nova import service

    class Served(Exception):
        pass

    def serve(*args, **kwargs):
        raise Served()
    service.serve = serve
    sys.argv = ["nova-scheduler", "--config-file", conf_path]
    try:
        nova.cmd.scheduler.main()
    except Served:
        pass
    return sorted(sys.modules)


def imports(stock_modules, compiled):
    """Milliseconds to import safe_launch's modules a launch loads, once every
    module stock imports too is loaded (not measured: stock pays for them).
    ``compiled``: from source, as without bytecode (an empty cache prefix from
    here on, nothing written), with the preloaded modules still from theirs."""
    import importlib
    import tempfile
    for name in stock_modules:
        if not name.startswith("safe_launch") and name != "__main__":
            try:
                importlib.import_module(name)
            except Exception:   # a platform's alternative (nt, _winapi...), a shim
                pass
    names = [name for name in LAUNCH_MODULES if name not in sys.modules]
    if compiled:
        sys.pycache_prefix = tempfile.mkdtemp()
        sys.dont_write_bytecode = True
    start = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return {"import_ms": (time.perf_counter() - start) * 1000, "modules": len(names)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inproc")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("steps")
    p.add_argument("conf")
    p.add_argument("stock_modules", help="JSON list written by the stock-modules mode")
    sub.add_parser("stock-modules").add_argument("conf")
    p = sub.add_parser("imports")
    p.add_argument("stock_modules")
    p.add_argument("--compiled", action="store_true")
    args = parser.parse_args(argv)
    if args.mode == "steps":
        with open(args.stock_modules) as f:
            stock = json.load(f)
        result = steps(os.path.abspath(args.conf), stock)
    elif args.mode == "stock-modules":
        result = stock_modules(os.path.abspath(args.conf))
    else:
        with open(args.stock_modules) as f:
            result = imports(json.load(f), args.compiled)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # nova's service (and its threads) exist now: leave without their teardown.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
