"""The launch pipeline.

guard argv -> parse -> validate -> bound workers -> patching -> create ->
serve -> wait.  Each phase lives in the module of the same name and returns
a decision record; this module runs them in order, sends each decision
through the one emitter, and turns every failure into one line on stderr,
one ``launch.failed`` event and one exit code from :mod:`safe_launch.errors`.
The launcher is the service's main process: no wrapper, no subprocess.
"""

import contextlib
import dataclasses
import os
import socket
import sys
import time
import traceback
import types

from safe_launch import events
from safe_launch.errors import ExitCode, LaunchError, classify, config_error, describe
from safe_launch import signals


class Launch:
    """One launch of one service; ``until`` stops early (``safe-launch check``).

    ``process_hygiene`` False: the process is not changed (umask, descriptors,
    identity...: see :mod:`safe_launch.hygiene`), for a caller that runs a
    launch inside a process of its own, such as a test runner.
    """

    PHASES = ("guard", "parse", "validate", "workers", "patching", "create",
              "serve", "wait")

    def __init__(self, spec, argv, until=None, sinks=None, process_hygiene=True):
        from safe_launch import masking
        from safe_launch import procctl
        self.kernel = procctl.Kernel()
        # Before the launcher opens any: the descriptors inherited at exec.
        self.inherited_fds = self.kernel.open_fds()
        self.hygiene = None         # the hygiene options, read before the parse
        self.process_hygiene = process_hygiene
        self.spec = spec
        self.argv = list(argv)
        self.until = until
        self.masker = masking.Masker()
        from safe_launch import validate
        masking.register_declared(self.masker, None, self.argv, os.environ,
                                  secret_keys=validate.known_secret_keys(spec),
                                  plain_keys=validate.known_plain_keys(spec))
        self.console = events.ConsoleSink(spec.prog)
        self.emitter = events.Emitter([self.console] if sinks is None else sinks,
                                      mask=self.masker.mask)
        self.emitter.on_sink_change = lambda name, failing: self._on_change()
        self.phase = "guard"
        self.debug = any(a in ("--debug", "-d") for a in self.argv)
        self.decisions = {}
        self.conf = None
        self.files = []             # the records of the files the command line selects
        self.trail = None           # the audit file sink, once open
        self.trail_settings = None  # where the trail was last opened, or tried
        self.journal_open = False
        self.stop_signal = None
        self.monitor = None
        self.reload_again = False   # reloads coalesced while workers restart
        self.stop_bound_set = False
        self.start_waiting_for = None
        self.start_began = None     # when the start deadline began (create)

    # -- running -------------------------------------------------------------

    def run(self):
        from safe_launch import sdnotify
        # Before anything else: the backends must find no socket to send
        # their premature READY=1 to.
        self.notifier = sdnotify.suppress_backend_ready()
        try:
            signals.install_early()
            for phase in self.PHASES:
                self.phase = phase
                getattr(self, "phase_" + phase)()
                if phase == self.until:
                    break
            return ExitCode.OK
        except LaunchError as exc:
            return self.failed(exc)
        except signals.StopRequested as exc:
            if self.until is not None:      # a check that did not finish checked nothing
                return self.failed(LaunchError(ExitCode.TEMPFAIL, "interrupted (%s) before "
                                               "the check finished: nothing was checked" % exc))
            self.ensure_trail()
            self.emitter.emit(events.STOP_REQUESTED, summary="stop requested (%s) during %s"
                              % (exc, self.phase), signal=str(exc), phase=self.phase)
            return ExitCode.OK
        except SystemExit as exc:       # --help / --version
            return exc.code or ExitCode.OK
        except BaseException as exc:
            return self.failed(LaunchError(classify(exc), describe(exc)), exc)
        finally:
            self.emitter.close()

    def failed(self, error, exc=None):
        error.phase = error.phase or self.phase
        self.ensure_trail()
        if self.monitor is not None:
            self.monitor.outcome.stopping = True
        for problem, where in zip(error.problems, error.details or [{}] * len(error.problems)):
            self.emitter.emit(events.LAUNCH_FAILED, outcome="failure",
                              summary="%s: %s" % (error.phase, problem), phase=error.phase,
                              exit_code=int(error.code), error=problem,
                              error_class=type(exc or error).__name__, **where)
        if exc is not None and self._debug():
            events.ConsoleSink.write_line(None, "".join(traceback.format_exception(exc)))
        self.notifier.status(self.masker.mask("failed in %s: %s (exit %d)" % (
            error.phase, error.problems[0], error.code)))
        return error.code

    def _debug(self):
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

    # -- phases ----------------------------------------------------------------

    def phase_guard(self):
        """The exact command line; then ``launch.started`` and the audit trail.

        The files the command line selects get the type, size, content and
        symlink rules here, before anything reads them (a FIFO would hang
        oslo.config, a binary file crash it); their records keep the bytes
        checked, which every later step reads (the parse too); ownership and
        mode are judged after the parse, under the configured [safe_launch]
        policy.  Whatever happens, the launch has its started record and,
        when its location can be known, its trail, so a refused launch is on
        the record too.
        """
        from safe_launch import argv
        from safe_launch import parse
        decision = None
        try:
            self.conf = parse.load_options(self.spec)
            self.register_secrets(())
            decision = argv.guard(self.argv, argv.cli_opts_of(self.conf),
                                  denied=self.conf.safe_launch.denied_cli_options)
            self.decisions["guard"] = decision      # refused too: it locates the files
            self.files = parse.accept_files(decision, self.spec, os.environ)
            self.register_secrets(self.files)
            hygiene = self.apply_hygiene() if self.process_hygiene else None  # before the trail
        finally:        # first, whatever happened: every launch has its started record
            self.started()
        self.open_trail(required=decision.ok)
        if not decision.ok:
            raise LaunchError(ExitCode.USAGE, decision.problems[0], decision.problems)
        self.decide("guard", events.ARGV_CHECKED, decision)
        if hygiene is None:
            return
        self.phase = "hygiene"
        self.decide("hygiene", events.HYGIENE_APPLIED, hygiene)
        # --help and --version print and exit before anything is read or
        # served: an operator may ask for them as root, say.
        if not hygiene.ok and not {"help", "version"} & set(decision.options):
            raise config_error(list(zip(hygiene.problems, hygiene.where)))

    def apply_hygiene(self):
        """Umask, inherited descriptors, environment, identity, core dumps,
        no_new_privs, sys.path: see :mod:`safe_launch.hygiene`."""
        from safe_launch import hygiene
        self.hygiene = hygiene.settings(self.files, os.environ)
        return hygiene.apply(self.hygiene, os.environ, self.inherited_fds, self.files,
                             self.spec, self.kernel, list(sys.path))

    def register_secrets(self, records):
        """Every secret value the command line, the environment and ``records`` give,
        known to the masker before anything can print it (launch and reload)."""
        from safe_launch import configfiles
        from safe_launch import masking
        from safe_launch import validate
        masking.register_declared(self.masker, self.conf, self.argv, os.environ,
                                  configfiles.sections_of(records),
                                  secret_keys=validate.known_secret_keys(self.spec),
                                  plain_keys=validate.known_plain_keys(self.spec))

    def doing(self):
        """What this run of the pipeline does, as the started record says it."""
        guard = self.decisions.get("guard")
        asked = guard and guard.ok and {"help", "version"} & set(guard.options)
        if asked:
            return "--%s of" % sorted(asked)[0]
        return "checking" if self.until else "launching"

    def started(self):
        from safe_launch import configfiles
        self.emitter.emit(events.LAUNCH_STARTED, outcome="pending",
                          summary="%s %s (pid %d)" % (self.doing(), self.spec.binary, os.getpid()),
                          config_files=[configfiles.as_record(r) for r in self.files],
                          **identity(self.spec, self.argv))

    def phase_parse(self):
        """The files' pre-parse problems (all at once), then one parse of their bytes."""
        from safe_launch import parse
        guard = self.decisions["guard"]
        problems = parse.problems_before(self.files, os.environ)
        if problems:
            raise config_error(problems)
        decision = parse.parse(self.spec, self.conf, list(guard.argv), self.files)
        self.decide("parse", events.CONFIG_PARSED, decision)

    def phase_validate(self):
        """Every value, every key, every file's owner and mode: all errors at once."""
        from safe_launch import masking
        from safe_launch import validate
        decision = validate.check(self.conf, self.decisions["guard"], self.spec, os.environ,
                                  checked=self.files)
        for secret in masking.secret_values_from_conf(self.conf):
            self.masker.add_secret(secret)
        enforced = bool(decision.errors) and self.conf.safe_launch.enforce
        if not any(where.get("group") == "safe_launch" for where in decision.where):
            self.move_trail(required=not enforced)
        if enforced:
            raise config_error(decision.problems)
        self.decide("validate", events.CONFIG_VALIDATED, decision)
        for error in decision.errors:
            self.emitter.emit(events.CONFIG_WARNING, outcome="failure", error=error,
                              summary="validate: not enforced ([safe_launch] enforce = false): "
                                      + error)
        for warning in decision.warnings:
            self.emitter.emit(events.CONFIG_WARNING, summary="validate: warning: " + warning,
                              warning=warning)

    # -- the audit trail ---------------------------------------------------------

    def open_trail(self, required, settings=None):
        """Open the audit trail and hand it every record so far.

        ``required``: the launch is going on, so a trail that cannot be opened
        stops it (73, or 78 for a bad key file) unless ``audit_required =
        false``, and a location that needs ``$substitution`` waits for the
        parse; a launch that is already failing takes the default location
        for such a value and only says why when no trail can be opened.  A
        preflight ``check`` writes no trail.
        """
        from safe_launch import audit
        from safe_launch import journal
        from safe_launch import trail
        if self.until is not None:
            return
        settings = settings or trail.settings(self.files, os.environ, self.spec)
        if settings.deferred and required:
            return
        if settings.deferred:
            settings = trail.at_default(settings, self.spec)
        self.trail_settings = settings
        try:
            sink = trail.open_file(settings)
            if sink.anchor_problem:     # records removed since the last launch: say so
                self.emitter.emit(audit.ANCHOR_MISMATCH, outcome="failure",
                                  summary="audit: %s: %s" % (settings.log, sink.anchor_problem),
                                  log=settings.log, anchor=sink.anchor)
            # Written directly, not through the fail-open emitter: a trail that
            # cannot be written now must stop the launch.  One durable sync.
            sink.handle_all(self.emitter.history)
        except Exception as exc:
            message = exc.message if isinstance(exc, LaunchError) else \
                "audit log %s: %s" % (settings.log, exc)      # LaunchErrors name the file
            if required and settings.required:
                if not isinstance(exc, (LaunchError, OSError)):
                    raise
                raise LaunchError(getattr(exc, "code", ExitCode.CANTCREAT), message)
            self.emitter.emit("audit.unavailable", outcome="failure", summary="audit: %s (%s)" % (
                message, "audit_required = false: going on" if required else "not recorded"))
        else:
            self.emitter.add_sink(sink)
            self.trail = sink
        if not self.journal_open and settings.journal and journal.JournalSink.available():
            self.emitter.replay(journal.JournalSink())
            self.journal_open = True

    def ensure_trail(self):
        """A failing or stopping launch: its trail, if it has none yet."""
        from safe_launch import trail
        if self.trail is not None or self.until is not None:
            return
        settings = None
        if "parse" in self.decisions:
            try:
                settings = trail.settings(self.files, os.environ, self.spec, self.conf)
            except Exception:       # an invalid [safe_launch] value: the raw reading
                pass
        settings = settings or trail.settings(self.files, os.environ, self.spec)
        if settings.deferred:
            settings = trail.at_default(settings, self.spec)
        if settings != self.trail_settings:     # not tried yet
            self.open_trail(required=False, settings=settings)

    def move_trail(self, required):
        """After the parse: the trail where the parsed configuration puts it.

        The trail opened before the parse is kept when the new one cannot
        be opened, so no record is lost.
        """
        from safe_launch import trail
        if self.until is not None:
            return
        settings = trail.settings(self.files, os.environ, self.spec, self.conf)
        old = self.trail
        if old is not None and settings == self.trail_settings:
            return
        self.trail = None
        try:
            self.open_trail(required=required, settings=settings)
        finally:
            if self.trail is None:
                self.trail = old
            elif old is not None:
                self.emitter.sinks.remove(old)
                old.close()

    def open_notifications(self):
        """CADF events over the service's own transport, off the launch path."""
        if self.until is not None or not self.conf.safe_launch.audit_notifications:
            return
        import oslo_messaging
        from safe_launch import cadf
        # The exchange the project's own defaults would set later (create phase).
        oslo_messaging.set_transport_defaults(control_exchange=self.spec.project)
        try:
            sink = cadf.CadfSink(self.conf, service=self.spec.binary,
                                 service_type=self.spec.cadf_type,
                                 on_failure=lambda exc: self.emitter.sink_failed("CadfSink", exc),
                                 on_success=lambda: self.emitter.sink_ok("CadfSink"))
        except Exception as exc:        # fail-open: counted and reported once
            self.emitter.sink_failed("CadfSink", exc)
            return
        self.emitter.replay(sink)

    def phase_workers(self):
        from safe_launch import resources
        from safe_launch import workers
        if not self.spec.forks:
            self.decide("workers", events.WORKERS_BOUNDED, workers.ONE_PROCESS)
            return
        group = self.conf[self.spec.workers_group] if self.spec.workers_group else self.conf
        requested = group[self.spec.workers_name]
        policy = self.conf.safe_launch
        decision = workers.bound(
            requested, resources.probe(), policy=policy.worker_bound,
            per_worker_memory=policy.worker_memory_mb * 2 ** 20,
            threads_per_worker=policy.worker_threads, rounding=policy.cpu_rounding,
            max_workers=policy.max_workers,
            option="[%s] %s" % (self.spec.workers_group or "DEFAULT", self.spec.workers_name))
        if decision.refused:
            raise LaunchError(ExitCode.CONFIG, decision.summary())
        self.conf.set_override(self.spec.workers_name, decision.effective,
                               group=self.spec.workers_group)
        self.decide("workers", events.WORKERS_BOUNDED, decision)
        if requested and decision.effective < requested:
            self.emitter.emit(events.CONFIG_WARNING, summary="workers: warning: [%s] %s = %d "
                              "clamped to %d (bound by %s)" % (
                                  self.spec.workers_group, self.spec.workers_name, requested,
                                  decision.effective, decision.bound_by),
                              warning="clamped %s from %d to %d" % (
                                  self.spec.workers_opt, requested, decision.effective))

    def phase_patching(self):
        from safe_launch import patching
        conf = self.conf
        decision = patching.decide(os.environ, *patching.configured(self.spec, conf),
                                   self.spec.default_backend,
                                   conf.safe_launch.monkey_patch_allowlist,
                                   env=self.spec.patching_env, option=self.spec.backend_opt)
        decision = patching.apply(decision, self.spec, strict=conf.safe_launch.strict_patching)
        self.decide("patching", events.PATCHING_APPLIED, decision)
        self.open_notifications()

    def phase_create(self):
        from safe_launch import patching
        from safe_launch import service
        with self.master_start_deadline():
            self.server, decision = service.create(self.spec, self.conf)
        patching.verify(self.decisions["patching"])
        from safe_launch import hygiene     # nova's whole import graph is loaded now
        imports = self.hygiene and hygiene.check_loaded(self.hygiene, sys.modules, self.spec,
                                                        self.kernel)
        if imports is not None:
            self.decide("imports", events.IMPORTS_CHECKED, imports)
            if not imports.ok:
                raise config_error(list(imports.problems))
        self.decide("create", events.SERVICE_CREATED, decision)

    @contextlib.contextmanager
    def master_start_deadline(self):
        """The start deadline's first part: the service's creation, in the master.

        nova's scheduler reads the API database while it is created, before
        any worker is forked: a database that is down there waits out
        oslo.db's retries ([api_database] max_retries x retry_interval), and
        one that hangs (paused) waits forever.  ``[safe_launch] start_timeout``
        counts from here; meanwhile STATUS= names what the master waits on,
        as the workers' reports do afterwards (the wait phase's Monitor keeps
        the rest of the deadline).
        """
        from safe_launch import supervise
        threading = supervise.native("threading")
        self.start_began = time.monotonic()
        done, lock = threading.Event(), threading.Lock()

        def waiting(kind, what):
            self.start_waiting_for = what
            self.notifier.status("starting: waiting for %s" % what)

        def expire():
            if done.wait(self.conf.safe_launch.start_timeout):
                return
            with lock:
                if done.is_set():
                    return
                self.failed(LaunchError(ExitCode.TEMPFAIL, self.start_timeout_message(),
                                        phase="create"))
                self.emitter.close()
                os._exit(ExitCode.TEMPFAIL)     # the main thread is stuck in the backend
        supervise.report_waiting(types.SimpleNamespace(send=waiting), threading.get_ident(),
                                 done)
        threading.Thread(target=expire, name="safe_launch-start-deadline", daemon=True).start()
        try:
            yield
        finally:
            with lock:
                done.set()

    def phase_serve(self):
        from safe_launch import crashloop
        from safe_launch import service
        from safe_launch import supervise
        policy = crashloop.CrashLoopPolicy(self.conf.safe_launch.crash_loop_max_failures,
                                           self.conf.safe_launch.crash_loop_window)
        reports = supervise.WorkerReports()
        self.monitor = supervise.Monitor(reports, policy, self.emitter, self._on_ready,
                                         self._on_crash_loop, tick=self.notifier.watchdog,
                                         tick_interval=self.notifier.watchdog_interval(),
                                         on_change=self._on_change,
                                         start_timeout=self.start_time_left(),
                                         on_start_timeout=self._on_start_timeout)
        self.launcher = service.serve(self.spec, self.server, self.decisions["workers"].effective,
                                      self.conf, reports)
        signals.adopt(self.launcher, self._on_stop, self._on_reload)
        self.monitor.start()

    def phase_wait(self):
        from safe_launch import service
        status = service.wait(self.launcher)
        outcome = self.monitor.outcome
        if outcome.start_timed_out:
            raise LaunchError(ExitCode.TEMPFAIL, self.start_timeout_message())
        if outcome.crash_cause is not None:
            raise LaunchError(
                ExitCode.TEMPFAIL,
                "crash loop: %d workers in a row failed to start or died within %ds of "
                "becoming ready, last: %s" % (self.conf.safe_launch.crash_loop_max_failures,
                                              self.conf.safe_launch.crash_loop_window,
                                              outcome.crash_cause)
                if outcome.quick_deaths and not outcome.failures else
                "crash loop: %d workers in a row failed to start, last: %s"
                % (len(outcome.failures), outcome.crash_cause))
        self.emitter.emit(events.SERVICE_STOPPED, summary="stopped (%s)" % (
            "signal %s" % self.stop_signal if self.stop_signal else "status %s" % status),
            status=status, signal=self.stop_signal)
        if self.stop_signal is None and status:
            raise LaunchError(ExitCode.SOFTWARE, "the service ended with status %s" % status)

    # -- callbacks from the wait phase (monitor thread / signal dispatch) -------

    def _on_ready(self, pid, reloaded=False):
        if reloaded:
            self.emitter.emit(events.SERVICE_READY, summary="ready again after the reload: "
                              "worker %d serves RPC topic %s" % (pid, self.spec.topic),
                              worker_pid=pid, status=self.status_line(), reload=True)
        else:
            self.emitter.emit(events.SERVICE_READY, summary="ready: worker %d serves RPC topic "
                              "%s" % (pid, self.spec.topic), worker_pid=pid,
                              status=self.status_line())
        self.notifier.ready(self.status_line())
        if reloaded and self.reload_again:      # reloads that came meanwhile: one more
            self.reload_again = False
            os.kill(os.getpid(), signals.signal.SIGHUP)

    def _on_change(self):
        """STATUS= again: a worker started, became ready or died, a sink failed or
        recovered (a reload says so itself: RELOADING=1, then READY=1)."""
        if self.monitor is None or self.monitor.outcome.stopping:
            return
        if self.monitor.outcome.ready_at is None:
            waiting = self.monitor.waiting_for()
            self.notifier.status("starting%s" % (": waiting for %s" % waiting if waiting else ""))
        else:
            self.notifier.status(self.status_line())

    def status_line(self):
        """What systemctl status shows: "2 workers (bound by cpu), threading, audit ok"."""
        workers = self.decisions.get("workers")
        patching = self.decisions.get("patching")
        parts = []
        if workers is not None:
            parts.append("%d workers (%s)" % (workers.effective, "bound by %s" % workers.bound_by
                                              if workers.bound_by else "as configured"))
        if self.monitor is not None and self.monitor.outcome.ready_at is not None:
            serving, starting = self.monitor.counts()
            parts.append("%d serving%s" % (serving, ", %d starting" % starting
                                           if starting else ""))
        if patching is not None:
            parts.append(patching.backend)
        if "hygiene" in self.decisions:
            parts.append(self.decisions["hygiene"].status())
        parts.append(self.audit_status())
        return ", ".join(parts)

    def audit_status(self):
        """"audit ok", "audit: AuditFile failing (2 failures)", or after a recovery
        "audit ok (2 sink failures, recovered)"."""
        failures = sum(self.emitter.sink_failures.values())
        failing = sorted(self.emitter.failing)
        if failing:
            return "audit: %s failing (%d failures)" % (", ".join(failing), failures)
        return "audit ok" if not failures else "audit ok (%d sink failures, recovered)" % failures

    def _on_crash_loop(self, cause):
        self.monitor.outcome.stopping = True
        self.bound_stop()
        os.kill(os.getpid(), signals.signal.SIGTERM)

    def start_time_left(self):
        """What the creation left of ``[safe_launch] start_timeout`` (at least 1 s)."""
        spent = time.monotonic() - self.start_began if self.start_began else 0
        return max(1.0, self.conf.safe_launch.start_timeout - spent)

    def start_timeout_message(self):
        return "no worker became ready within %ds ([safe_launch] start_timeout)%s" % (
            self.conf.safe_launch.start_timeout,
            "; waiting for %s" % self.start_waiting_for if self.start_waiting_for else "")

    def _on_start_timeout(self, waiting_for):
        self.start_waiting_for = waiting_for
        self.monitor.outcome.stopping = True
        self.bound_stop()
        os.kill(os.getpid(), signals.signal.SIGTERM)

    def _on_stop(self, signo):
        outcome = self.monitor.outcome
        if outcome.crash_cause is not None or outcome.start_timed_out:
            return
        self.monitor.outcome.stopping = True
        self.stop_signal = signals.signal.Signals(signo).name
        self.notifier.stopping("stopping (%s)" % self.stop_signal)
        self.emitter.emit(events.STOP_REQUESTED, summary="stop requested (%s)" % self.stop_signal,
                          signal=self.stop_signal)
        self.bound_stop()

    def _coalesce(self):
        self.reload_again = True
        self.emitter.emit(events.RELOAD_COALESCED, summary="reload: the previous reload's "
                          "workers are still starting; one more reload follows")
        return False

    def bound_stop(self):
        """The stop bound: ``[safe_launch] stop_timeout`` after the stop began, the
        workers are killed and the launcher exits, whatever the backend waits on."""
        if self.stop_bound_set:
            return
        self.stop_bound_set = True
        seconds = self.conf.safe_launch.stop_timeout

        def expired():
            crash = self.monitor.outcome.crash_cause
            if crash is not None:
                crash = "crash loop: last: %s" % crash
            if self.monitor.outcome.start_timed_out:
                crash = self.start_timeout_message()
            self.emitter.emit(events.STOP_FORCED, outcome="failure",
                              summary="stop: not stopped after %ds ([safe_launch] stop_timeout): "
                                      "workers killed" % seconds, stop_timeout=seconds)
            if crash is not None:
                self.failed(LaunchError(ExitCode.TEMPFAIL, crash, phase="wait"))
            self.emitter.emit(events.SERVICE_STOPPED, summary="stopped (forced)",
                              signal=self.stop_signal)
            self.emitter.close()
            os._exit(ExitCode.TEMPFAIL if crash is not None else ExitCode.OK)
        self.monitor.stop_within(seconds, expired)

    def _on_reload(self):
        """SIGHUP: pass it to the service only if the new configuration is clean.

        A SIGHUP that comes while the workers of the previous reload are not
        all serving again is coalesced: one more reload (checked then, on the
        files as they are then) follows once they are.  It is coalesced
        before the check: a check reads and validates every option, and 50
        SIGHUPs each checked kept the master busy for tens of seconds (a
        SIGTERM waited behind them).
        """
        from safe_launch import reload
        if self.monitor.outcome.reloading:
            self.notifier.reloading("reloading: one more reload follows the one in progress")
            return self._coalesce()
        self.notifier.reloading("reloading: checking the new configuration")
        workers = self.decisions["workers"]
        decision = reload.check(self.conf, self.decisions["guard"], self.spec,
                                register=self.register_secrets, overridden={
                                    (self.spec.workers_group or "DEFAULT",
                                     self.spec.workers_name): workers.requested}
                                if self.spec.forks else {})
        if decision.ok and not self.monitor.restarting():
            return self._coalesce()
        self.emitter.emit(events.RELOAD_ACCEPTED if decision.ok else events.RELOAD_REFUSED,
                          outcome="success" if decision.ok else "failure",
                          summary=decision.summary(), problems=list(decision.problems),
                          applied=list(decision.applied), immutable=list(decision.immutable))
        if not decision.ok:
            self.notifier.ready(self.status_line() + ", reload refused")
            return None
        # READY=1 again once the restarted workers serve; the backend's
        # re-read of the files is served from the bytes just checked.
        self.notifier.status("reloading: restarting the workers")
        from safe_launch import configfiles
        return configfiles.serving(decision.records)


def identity(spec, argv):
    """Who launched what, where (for ``launch.started``; argv is masked later)."""
    try:
        with open("/proc/self/loginuid") as f:
            loginuid = int(f.read())
    except (OSError, ValueError):
        loginuid = None
    return {
        "binary": spec.binary, "pid": os.getpid(), "ppid": os.getppid(),
        "host": socket.gethostname(), "argv": list(argv),
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
        "loginuid": None if loginuid == 4294967295 else loginuid,
        "invocation_id": os.environ.get("INVOCATION_ID"),
    }


def safe_main(spec, argv=None):
    """Launch ``spec``'s service; return the exit code (see errors.ExitCode)."""
    return int(Launch(spec, sys.argv[1:] if argv is None else argv).run())
