"""The launch: guard -> parse -> validate -> workers -> patching -> sinks -> create ->
serve -> wait, each a direct call to the module deciding it (a frozen decision record,
sent through the one emitter); every failure is one stderr line, one ``launch.failed``
event, one exit code (:mod:`safe_launch.errors`).  See :mod:`safe_launch.serving`."""

import dataclasses
import os
import sys
import traceback

from safe_launch import events
from safe_launch.errors import ExitCode, LaunchError, classify, config_error, describe
from safe_launch import signals
from safe_launch.sinks import Sinks, identity


class Launch:
    """One launch of one service; ``until`` stops early (``safe-launch check``);
    ``process_hygiene`` False leaves the process as it is (a test runner's, say)."""

    def __init__(self, spec, argv, until=None, sinks=None, process_hygiene=True):
        from safe_launch import masking
        from safe_launch import procctl
        self.kernel = procctl.Kernel()
        self.inherited_fds = self.kernel.open_fds()     # at exec: before the launcher opens any
        self.hygiene = None         # the hygiene options, read before the parse
        self.process_hygiene = process_hygiene
        self.spec, self.argv, self.until = spec, list(argv), until
        self.masker = masking.Masker()
        self.conf = None
        self.register_secrets(())
        self.emitter = events.Emitter([events.ConsoleSink(spec.prog)] if sinks is None
                                      else sinks, mask=self.masker.mask)
        self.sinks = Sinks(self.emitter, spec, checking=until is not None)
        self.phase, self.decisions = "guard", {}
        self.debug = any(a in ("--debug", "-d") for a in self.argv)
        self.files = []             # the records of the files the command line selects
        self.imports = lambda: None     # the import-path verdict's wait, from create
        self.serving = None         # the service's life, once run() begins

    def run(self):
        from safe_launch import sdnotify
        from safe_launch import serving
        # First: the backends must find no socket to send their early READY=1 to.
        notifier = sdnotify.suppress_backend_ready()
        self.serving = serving.Serving(self.spec, self.emitter, notifier, self.decisions,
                                       fail=self.failed)
        self.emitter.on_sink_change = lambda name, failing: self.serving.on_change()
        try:
            signals.install_early()
            for phase, step in (
                    ("guard", self.guard), ("parse", self.parse), ("validate", self.validate),
                    ("workers", self.workers), ("patching", self.patching),
                    ("sinks", lambda: self.sinks.open_notifications(self.conf)),
                    ("create", self.create), ("serve", self.serve), ("wait", self.wait)):
                self.phase = phase
                step()
                if phase == self.until:
                    break
            return ExitCode.OK
        except LaunchError as exc:
            return self.failed(exc)
        except signals.StopRequested as exc:
            if self.until is not None:      # a check that did not finish checked nothing
                return self.failed(LaunchError(ExitCode.TEMPFAIL, "interrupted (%s) before "
                                               "the check finished: nothing was checked" % exc))
            self.on_record()
            self.emitter.emit(events.STOP_REQUESTED, summary="stop requested (%s) during %s"
                              % (exc, self.phase), signal=str(exc), phase=self.phase)
            return ExitCode.OK
        except SystemExit as exc:       # --help / --version
            return exc.code or ExitCode.OK
        except BaseException as exc:
            return self.failed(LaunchError(classify(exc), describe(exc)), exc)
        finally:
            self.serving.heap.restore()
            self.emitter.close()

    def failed(self, error, exc=None):
        error.phase = error.phase or self.phase
        self.on_record()
        self.serving.stopping()
        for problem, where in zip(error.problems, error.details or [{}] * len(error.problems)):
            self.emitter.emit(events.LAUNCH_FAILED, outcome="failure",
                              summary="%s: %s" % (error.phase, problem), phase=error.phase,
                              exit_code=int(error.code), error=problem,
                              error_class=type(exc or error).__name__, **where)
        if exc is not None and self.debugging():
            events.ConsoleSink.write_line(None, "".join(traceback.format_exception(exc)))
        self.serving.notifier.status(self.masker.mask("failed in %s: %s (exit %d)" % (
            error.phase, error.problems[0], error.code)))
        return error.code

    def on_record(self):
        """A launch that ends early: its started record (a stop may have cut it) and trail."""
        if not any(r.event == events.LAUNCH_STARTED for r in self.emitter.history):
            self.started()
        self.sinks.ensure_trail(self.files, self.conf if "parse" in self.decisions else None)

    def debugging(self):
        try:
            return bool(self.conf.debug) if self.conf is not None else self.debug
        except Exception:
            return self.debug

    def decide(self, phase, event, decision):
        """Record a phase's decision and send it, whole, through the emitter."""
        self.decisions[phase] = decision
        self.emitter.emit(event, summary=decision.summary(), phase=phase,
                          decision=dataclasses.asdict(decision))
        return decision

    def register_secrets(self, records):
        """Every secret the command line, the environment and ``records`` give, known to
        the masker before anything can print it (launch and reload)."""
        from safe_launch import masking
        masking.register_launch(self.masker, self.spec, self.conf, self.argv, os.environ,
                                records)

    # -- phases ----------------------------------------------------------------

    def guard(self):
        """The exact command line, the files it selects, the hygiene; every launch has
        its ``launch.started`` record and, when its location can be known, its trail,
        so a refused launch is on the record too (see :func:`parse.accept_files`)."""
        from safe_launch import argv
        from safe_launch import hygiene
        from safe_launch import parse
        decision = applied = None
        try:
            self.conf = self.serving.conf = parse.load_options(self.spec)
            self.register_secrets(())
            decision = argv.guard(self.argv, argv.cli_opts_of(self.conf),
                                  denied=self.conf.safe_launch.denied_cli_options)
            self.decisions["guard"] = decision      # refused too: it locates the files
            self.files = parse.accept_files(decision, self.spec, os.environ)
            self.register_secrets(self.files)
            if self.process_hygiene:        # before the trail
                self.hygiene = hygiene.settings(self.files, os.environ)
                applied = hygiene.apply(self.hygiene, os.environ, self.inherited_fds,
                                        self.files, self.spec, self.kernel, list(sys.path))
        finally:        # first, whatever happened: every launch has its started record
            self.started()
        self.sinks.open_trail(self.files, required=decision.ok)
        if not decision.ok:
            raise LaunchError(ExitCode.USAGE, decision.problems[0], decision.problems)
        self.decide("guard", events.ARGV_CHECKED, decision)
        if applied is not None:
            self.phase = "hygiene"
            self.decide("hygiene", events.HYGIENE_APPLIED, applied)
            # --help and --version print and exit before anything is read or
            # served: an operator may ask for them as root, say.
            if not applied.ok and not {"help", "version"} & set(decision.options):
                raise config_error(list(zip(applied.problems, applied.where)))

    def started(self):
        from safe_launch import configfiles
        guard = self.decisions.get("guard")
        asked = guard and guard.ok and {"help", "version"} & set(guard.options)
        doing = "--%s of" % sorted(asked)[0] if asked else \
            "checking" if self.until else "launching"
        self.emitter.emit(events.LAUNCH_STARTED, outcome="pending",
                          summary="%s %s (pid %d)" % (doing, self.spec.binary, os.getpid()),
                          config_files=[configfiles.as_record(r) for r in self.files],
                          **identity(self.spec, self.argv))

    def parse(self):
        from safe_launch import parse
        self.decide("parse", events.CONFIG_PARSED, parse.phase(
            self.spec, self.conf, list(self.decisions["guard"].argv), self.files, os.environ))

    def validate(self):
        """Every value, every key, every file's owner and mode: all errors at once."""
        from safe_launch import masking
        from safe_launch import validate
        values = []     # every option's value, read once: the masker's too
        decision = validate.check(self.conf, self.decisions["guard"], self.spec, os.environ,
                                  checked=self.files, values=values)
        self.masker.add_secrets(masking.secret_values_of(values))
        enforced = validate.enforced(decision, self.conf)
        if not any(where.get("group") == "safe_launch" for where in decision.where):
            self.sinks.move_trail(self.files, self.conf, required=not enforced)
        if enforced:
            raise config_error(decision.problems)
        self.decide("validate", events.CONFIG_VALIDATED, decision)
        for warning in validate.warnings_of(decision):
            self.emitter.emit(events.CONFIG_WARNING, **warning)

    def workers(self):
        from safe_launch import resources
        from safe_launch import workers
        decision = workers.for_service(self.spec, self.conf, resources.probe)
        if self.spec.forks:
            if decision.refused:
                raise LaunchError(ExitCode.CONFIG, decision.summary())
            self.conf.set_override(self.spec.workers_name, decision.effective,
                                   group=self.spec.workers_group)
        self.decide("workers", events.WORKERS_BOUNDED, decision)
        for warning in workers.warnings_of(self.spec, decision):
            self.emitter.emit(events.CONFIG_WARNING, **warning)

    def patching(self):
        from safe_launch import patching
        self.decide("patching", events.PATCHING_APPLIED, patching.phase(self.spec, self.conf))

    def create(self):
        from safe_launch import hygiene
        from safe_launch import patching
        from safe_launch import service
        with self.serving.master_start_deadline():
            self.serving.server, decision = service.create(self.spec, self.conf)
        patching.verify(self.decisions["patching"])
        self.decide("create", events.SERVICE_CREATED, decision)
        if self.hygiene:
            self.imports = hygiene.check_loaded_meanwhile(self.hygiene, sys.modules,
                                                          self.spec, self.kernel)
        self.serving.heap.collect_meanwhile(self.decisions["patching"].backend)

    def imports_checked(self):
        """The import-path verdict (judged since create), before any worker forks."""
        imports = self.imports()
        self.serving.heap.before_fork()
        if imports is not None:
            self.decide("imports", events.IMPORTS_CHECKED, imports)
            if not imports.ok:
                raise config_error(list(imports.problems))

    def serve(self):
        from safe_launch import service
        from safe_launch import supervise
        serving, reports = self.serving, supervise.WorkerReports()
        monitor = serving.monitor_for(reports)
        with serving.master_start_deadline("serve"):     # nova's pre-serve step, the verdict
            serving.backend = service.serve(self.spec, serving.server,
                                            self.decisions["workers"].effective, self.conf,
                                            reports, before_launch=self.imports_checked)
        supervise.guard_forks(signals.manager_of(serving.backend), serving.on_fork_refused)
        signals.adopt(serving.backend, serving.on_stop, lambda: serving.on_reload(
            self.register_secrets))
        monitor.start()

    def wait(self):
        from safe_launch import service
        self.serving.ended(service.wait(self.serving.backend))


def safe_main(spec, argv=None):
    """Launch ``spec``'s service; return the exit code (see errors.ExitCode)."""
    return int(Launch(spec, sys.argv[1:] if argv is None else argv).run())
