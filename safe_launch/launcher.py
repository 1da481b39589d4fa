"""The launch pipeline.

guard argv -> parse -> validate -> bound workers -> patching -> create ->
serve -> wait.  Each phase lives in the module of the same name and returns
a decision record; this module runs them in order, sends each decision
through the one emitter, and turns every failure into one line on stderr,
one ``launch.failed`` event and one exit code from :mod:`safe_launch.errors`.
The launcher is the service's main process: no wrapper, no subprocess.
"""

import dataclasses
import os
import socket
import sys
import traceback

from safe_launch import events
from safe_launch.errors import ExitCode, LaunchError, classify, describe
from safe_launch import signals


class Launch:
    """One launch of one service; ``until`` stops early (``safe-launch check``)."""

    PHASES = ("guard", "parse", "validate", "workers", "patching", "create",
              "serve", "wait")

    def __init__(self, spec, argv, until=None, sinks=None):
        from safe_launch import masking
        self.spec = spec
        self.argv = list(argv)
        self.until = until
        self.masker = masking.Masker()
        from safe_launch import argv as argv_guard
        for secret in masking.secret_values_from_argv(self.argv) | masking.secret_values_from_env():
            self.masker.add_secret(secret)
            shown = argv_guard._show(secret)        # how the guard quotes a token
            self.masker.add_secret(shown[:-3] if shown.endswith("...") else shown)
        self.console = events.ConsoleSink(spec.prog)
        self.emitter = events.Emitter([self.console] if sinks is None else sinks,
                                      mask=self.masker.mask)
        self.phase = "guard"
        self.debug = any(a in ("--debug", "-d") for a in self.argv)
        self.decisions = {}
        self.conf = None
        self.stop_signal = None
        self.monitor = None

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
        if self.monitor is not None:
            self.monitor.outcome.stopping = True
        for problem, where in zip(error.problems, error.details or [{}] * len(error.problems)):
            self.emitter.emit(events.LAUNCH_FAILED, outcome="failure",
                              summary="%s: %s" % (error.phase, problem), phase=error.phase,
                              exit_code=int(error.code), error=problem,
                              error_class=type(exc or error).__name__, **where)
        if exc is not None and self._debug():
            traceback.print_exception(exc, file=sys.stderr)
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
        """The exact command line; then ``launch.started``, naming the files it selects.

        Those files get the type, size and content rules here, before
        anything parses them (a FIFO would hang oslo.config, a binary file
        crash it); ownership and mode are judged after the parse, under the
        configured [safe_launch] policy.
        """
        from safe_launch import argv
        from safe_launch import parse
        self.files, decision = [], None
        try:
            self.conf = parse.load_options(self.spec)
            decision = argv.guard(self.argv, argv.cli_opts_of(self.conf),
                                  denied=self.conf.safe_launch.denied_cli_options)
            if decision.ok:
                self.decisions["guard"] = decision
                self.files = [self.check_file(path, kind, "off")
                              for path, kind in self.files_to_read(decision)]
        finally:        # first, whatever happened: every launch has its started record
            self.emitter.emit(events.LAUNCH_STARTED, outcome="pending",
                              summary="launching %s (pid %d)" % (self.spec.binary, os.getpid()),
                              config_files=[file_record(r) for r in self.files],
                              **identity(self.spec, self.argv))
        if not decision.ok:
            raise LaunchError(ExitCode.USAGE, decision.problems[0], decision.problems)
        self.decide("guard", events.ARGV_CHECKED, decision)

    def phase_parse(self):
        """The files' pre-parse problems (all at once), then one parse."""
        from safe_launch import masking
        from safe_launch import parse
        from safe_launch import validate
        guard = self.decisions["guard"]
        problems = [("%s: %s" % (r.path, p), {"file": r.path})
                    for r in self.files for p in r.problems]
        problems += [problem_of(p) for p in validate.config_source_check(
            self.files, os.environ).errors]
        if problems:
            raise config_error(problems)
        decision = parse.parse(self.spec, self.conf, list(guard.argv))
        for secret in masking.secret_values_from_files(self.files, self.conf):
            self.masker.add_secret(secret)
        self.decide("parse", events.CONFIG_PARSED, decision)

    def files_to_read(self, guard, conf=None):
        from safe_launch import configfiles
        return configfiles.files_to_check(guard, self.spec.project, self.spec.binary,
                                          os.environ, conf=conf)

    def check_file(self, path, kind, policy, conf=None):
        from safe_launch import configfiles
        trusted_uids, trusted_gid = (0,), None
        if conf is not None:
            uid, trusted_gid = service_account(conf.safe_launch.service_user)
            trusted_uids = (0, os.geteuid() if uid is None else uid)
        return configfiles.check_file(path, kind, policy, trusted_uids=trusted_uids,
                                      trusted_gid=trusted_gid,
                                      allowed_dirs=configfiles.allowed_dirs(
                                          self.decisions["guard"], os.environ))

    def phase_validate(self):
        """Every value, every key, every file's owner and mode: all errors at once."""
        problems, warnings, report = self.validation(self.conf, self.files)
        errors = [text for text, _ in problems]
        decision = Validation(len(errors), tuple(warnings), tuple(errors),
                              tuple(self.file_records), report.env_sources)
        if errors and self.conf.safe_launch.enforce:
            raise config_error(problems)
        self.decide("validate", events.CONFIG_VALIDATED, decision)
        for error in errors:
            self.emitter.emit(events.CONFIG_WARNING, outcome="failure", error=error,
                              summary="validate: not enforced ([safe_launch] enforce = false): "
                                      + error)
        for warning in warnings:
            self.emitter.emit(events.CONFIG_WARNING, summary="validate: warning: " + warning,
                              warning=warning)
        self.open_audit()

    def validation(self, conf, checked=None):
        """(errors, warnings, report) for a parsed ``conf``; the launch's and
        the reload's one rule.  Each error is ``(text, where)``, where names
        the file, group and option it applies to.  ``checked``: the records
        made before the parse, proved unchanged now."""
        from safe_launch import configfiles
        from safe_launch import validate
        guard = self.decisions["guard"]
        policy = conf.safe_launch
        paths = self.files_to_read(guard) + self.files_to_read(guard, conf)
        records = [self.check_file(path, kind, policy.file_policy, conf) for path, kind in paths]
        errors = [("%s: %s" % (r.path, p), {"file": r.path})
                  for r in records for p in r.problems]
        if checked is not None:
            errors += [(p, {}) for p in configfiles.verify_unchanged(checked)]
            self.file_records = [file_record(r) for r in records]
        denied = set(policy.denied_cli_options)
        errors += [("--%s: denied by [safe_launch] denied_cli_options" % key,
                    {"option": key.rpartition(".")[2]})
                   for key in guard.options if key.rpartition(".")[2] in denied]
        report = (validate.eager_check(conf, records)
                  + validate.unknown_keys(conf, records, environ=os.environ)
                  + validate.lazy_check(conf, records, os.environ, self.spec.binary))
        errors += [problem_of(p) for p in report.errors]
        warnings = [problem_of(p)[0] for p in report.warnings] + list(guard.warnings)
        return errors, warnings, report

    def open_audit(self):
        """The audit trail: required before the launch goes on (73), fail-open after."""
        from safe_launch import audit
        from safe_launch import journal
        from safe_launch import masking
        policy = self.conf.safe_launch
        for secret in masking.secret_values_from_conf(self.conf):
            self.masker.add_secret(secret)
        if self.until is not None:      # a preflight check writes no audit trail
            return
        try:
            key = audit.load_key(policy.audit_key_file) if policy.audit_key_file else None
            sink = audit.AuditFile(policy.audit_log, key=key,
                                   service_uid=service_account(policy.service_user)[0]).open()
            if sink.anchor_problem:     # records removed since the last launch: say so
                self.emitter.emit(audit.ANCHOR_MISMATCH, outcome="failure",
                                  summary="audit: %s: %s" % (policy.audit_log,
                                                             sink.anchor_problem),
                                  log=policy.audit_log, anchor=sink.anchor)
            # Written directly, not through the fail-open emitter: a trail that
            # cannot be written now must stop the launch.
            for record in self.emitter.history:
                sink.handle(record)
            self.emitter.add_sink(sink)
        except (LaunchError, OSError) as exc:
            message = "audit log %s: %s" % (policy.audit_log, getattr(exc, "message", exc))
            if policy.audit_required:
                raise LaunchError(getattr(exc, "code", ExitCode.CANTCREAT), message)
            self.emitter.emit("audit.unavailable", outcome="failure",
                              summary="audit: %s (audit_required = false: going on)" % message)
        if policy.audit_journal and journal.JournalSink.available():
            self.emitter.replay(journal.JournalSink())

    def open_notifications(self):
        """CADF events over the service's own transport, off the launch path."""
        if self.until is not None or not self.conf.safe_launch.audit_notifications:
            return
        import oslo_messaging
        from safe_launch import cadf
        # The exchange nova's set_lib_defaults() would set later (create phase).
        oslo_messaging.set_transport_defaults(control_exchange=self.spec.project)
        try:
            sink = cadf.CadfSink(self.conf, service=self.spec.binary)
        except Exception as exc:        # fail-open: counted and reported once
            self.emitter.sink_failed("CadfSink", exc)
            return
        self.emitter.replay(sink)

    def config_problems(self, conf):
        """Every error of a candidate configuration (for a reload)."""
        return [text for text, _ in self.validation(conf)[0]]

    def phase_workers(self):
        from safe_launch import resources
        from safe_launch import workers
        group = self.conf[self.spec.workers_group] if self.spec.workers_group else self.conf
        requested = group[self.spec.workers_name]
        policy = self.conf.safe_launch
        decision = workers.bound(
            requested, resources.probe(), policy=policy.worker_bound,
            per_worker_memory=policy.worker_memory_mb * 2 ** 20,
            threads_per_worker=policy.worker_threads, rounding=policy.cpu_rounding,
            max_workers=policy.max_workers)
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
        location = conf.get_location("concurrency_backend")
        decision = patching.decide(os.environ, conf.concurrency_backend,
                                   location.detail if location else "default",
                                   self.spec.default_backend,
                                   conf.safe_launch.monkey_patch_allowlist)
        decision = patching.apply(decision, strict=conf.safe_launch.strict_patching)
        self.decide("patching", events.PATCHING_APPLIED, decision)
        self.open_notifications()

    def phase_create(self):
        from safe_launch import patching
        from safe_launch import service
        self.server, decision = service.create(self.spec, self.conf)
        patching.verify(self.decisions["patching"])
        self.decide("create", events.SERVICE_CREATED, decision)

    def phase_serve(self):
        from safe_launch import crashloop
        from safe_launch import service
        from safe_launch import supervise
        policy = crashloop.CrashLoopPolicy(self.conf.safe_launch.crash_loop_max_failures,
                                           self.conf.safe_launch.crash_loop_window)
        reports = supervise.WorkerReports()
        self.monitor = supervise.Monitor(reports, policy, self.emitter, self._on_ready,
                                         self._on_crash_loop, tick=self.notifier.watchdog,
                                         tick_interval=self.notifier.watchdog_interval())
        self.launcher = service.serve(self.server, self.decisions["workers"].effective,
                                      self.conf, reports)
        signals.adopt(self.launcher, self._on_stop, self._on_reload)
        self.monitor.start()

    def phase_wait(self):
        from safe_launch import service
        status = service.wait(self.launcher)
        outcome = self.monitor.outcome
        if outcome.crash_cause is not None:
            raise LaunchError(
                ExitCode.TEMPFAIL,
                "crash loop: %d workers failed to start in a row within %ds, last: %s"
                % (len(outcome.failures), self.conf.safe_launch.crash_loop_window,
                   outcome.crash_cause))
        self.emitter.emit(events.SERVICE_STOPPED, summary="stopped (%s)" % (
            "signal %s" % self.stop_signal if self.stop_signal else "status %s" % status),
            status=status, signal=self.stop_signal)
        if self.stop_signal is None and status:
            raise LaunchError(ExitCode.SOFTWARE, "the service ended with status %s" % status)

    # -- callbacks from the wait phase (monitor thread / signal dispatch) -------

    def _on_ready(self, pid):
        self.emitter.emit(events.SERVICE_READY,
                          summary="ready: worker %d serves RPC topic %s" % (pid, self.spec.topic),
                          worker_pid=pid, status=self.status_line())
        self.notifier.ready(self.status_line())

    def status_line(self):
        """What systemctl status shows: "2 workers (bound by cpu), threading, audit ok"."""
        workers = self.decisions.get("workers")
        patching = self.decisions.get("patching")
        parts = []
        if workers is not None:
            parts.append("%d workers (%s)" % (workers.effective, "bound by %s" % workers.bound_by
                                              if workers.bound_by else "as configured"))
        if patching is not None:
            parts.append(patching.backend)
        parts.append(self.audit_status())
        return ", ".join(parts)

    def audit_status(self):
        failures = sum(self.emitter.sink_failures.values())
        return "audit ok" if not failures else "audit: %d sink failures" % failures

    def _on_crash_loop(self, cause):
        self.monitor.outcome.stopping = True
        os.kill(os.getpid(), signals.signal.SIGTERM)

    def _on_stop(self, signo):
        if self.monitor.outcome.crash_cause is not None:
            return
        self.monitor.outcome.stopping = True
        self.stop_signal = signals.signal.Signals(signo).name
        self.notifier.stopping("stopping (%s)" % self.stop_signal)
        self.emitter.emit(events.STOP_REQUESTED, summary="stop requested (%s)" % self.stop_signal,
                          signal=self.stop_signal)

    def _on_reload(self):
        """SIGHUP: pass it to the service only if the new configuration is clean."""
        from safe_launch import reload
        self.notifier.reloading("reloading: checking the new configuration")
        decision = reload.check(self.conf, list(self.decisions["guard"].argv), self.spec,
                                self.config_problems)
        self.emitter.emit(events.RELOAD_ACCEPTED if decision.ok else events.RELOAD_REFUSED,
                          outcome="success" if decision.ok else "failure",
                          summary=decision.summary(), problems=list(decision.problems))
        self.notifier.ready(self.status_line() + ("" if decision.ok else ", reload refused"))
        return decision.ok


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


@dataclasses.dataclass(frozen=True)
class Validation:
    """The validate phase's decision: what was wrong, what was checked."""

    error_count: int
    warnings: tuple
    errors: tuple
    files: tuple          # path, kind, sha256, owner, group, mode of each file read
    env_sources: tuple    # (group, option, OS_* variable name): names, never values

    def summary(self):
        return "validate: %d error(s), %d warning(s), %d file(s) checked, %d value(s) " \
               "from the environment" % (self.error_count, len(self.warnings),
                                         len(self.files), len(self.env_sources))


def problem_of(problem):
    """A validate.Problem as (one line, where it applies)."""
    group = problem.group or "DEFAULT"
    where = "[%s] %s" % (group, problem.option) if problem.option else "[%s]" % group
    source = " (%s)" % problem.source if problem.source else ""
    detail = {"group": group, "option": problem.option}
    if problem.source and problem.source.startswith("/"):
        detail["file"] = problem.source
    message = problem.message
    if message.startswith(where + ": "):
        message = message[len(where) + 2:]
    return "%s%s: %s" % (where, source, message), detail


def config_error(problems):
    """LaunchError(78) listing every ``(text, where)`` problem."""
    texts = [text for text, _ in problems]
    return LaunchError(ExitCode.CONFIG, texts[0], texts,
                       details=[where for _, where in problems])


def file_record(record):
    return {"path": record.path, "kind": record.kind, "sha256": record.sha256,
            "uid": record.uid, "gid": record.gid,
            "mode": None if record.mode is None else "%04o" % (record.mode & 0o7777)}


def service_account(user):
    """(uid, gid) of ``[safe_launch] service_user``; (None, None) when unset."""
    if not user:
        return None, None
    import pwd
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LaunchError(ExitCode.CONFIG, "[safe_launch] service_user: no such user %r" % user)
    return entry.pw_uid, entry.pw_gid


def safe_main(spec, argv=None):
    """Launch ``spec``'s service; return the exit code (see errors.ExitCode)."""
    return int(Launch(spec, sys.argv[1:] if argv is None else argv).run())
