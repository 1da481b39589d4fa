"""Serving: the start deadline, the wait phase's callbacks and the stop flag.

One :class:`Serving` per launch holds what the service's life changes:
whether a stop was asked for (and by which signal), reloads coalesced while
workers restart, the stop bound, what the start waits on.  The monitor
thread and the backend's signal dispatch call it (``on_ready``,
``on_stop``, ``on_reload``...); the launcher only creates it and reads its
outcome.  ``fail(error)`` is the launch's one way to report a failure (a
line, a ``launch.failed`` record, STATUS=): the deadlines that end the
process from a thread call it before ``os._exit``.
"""

import contextlib
import os
import time
import types

from safe_launch import events
from safe_launch import heap
from safe_launch import native
from safe_launch import signals
from safe_launch.errors import ExitCode, LaunchError


class Serving:
    """The callbacks of one service's life, and the state they share."""

    def __init__(self, spec, emitter, notifier, decisions, fail):
        self.spec = spec
        self.emitter = emitter
        self.notifier = notifier
        self.decisions = decisions      # the launch's, by phase
        self.fail = fail
        self.conf = None                # the launch's ConfigOpts, once loaded
        self.server = None              # the service, once created
        self.backend = None             # the backend's launcher serving it
        self.monitor = None             # the wait phase's supervise.Monitor
        self.stop_signal = None         # the name of the signal that asked for the stop
        self.reload_again = False       # reloads coalesced while workers restart
        self.stop_bound_set = False
        self.start_waiting_for = None
        self.reload_waiting_for = None
        self.start_began = None         # when the start deadline began (create)
        self.heap = heap.Paused()       # the collector, until the fork

    def stopping(self):
        """From now on the service is stopping: no more STATUS= updates."""
        if self.monitor is not None:
            self.monitor.outcome.stopping = True

    # -- the start deadline ----------------------------------------------------

    @contextlib.contextmanager
    def master_start_deadline(self, phase="create"):
        """The start deadline's first part: the service's creation, in the master,
        then (``phase`` "serve") the project's pre-serve step up to the launch
        (nova joins its thread pools, which a hung database can hold forever).

        nova's scheduler reads the API database while it is created, before
        any worker is forked: a database that is down there waits out
        oslo.db's retries ([api_database] max_retries x retry_interval), and
        one that hangs (paused) waits forever.  ``[safe_launch] start_timeout``
        counts from here; meanwhile STATUS= names what the master waits on,
        as the workers' reports do afterwards (the wait phase's Monitor keeps
        the rest of the deadline).
        """
        from safe_launch import supervise
        threading = native.module("threading")
        if self.start_began is None:
            self.start_began = time.monotonic()
        done, lock, timeout = threading.Event(), threading.Lock(), self.start_time_left()

        def waiting(kind, what):
            self.start_waiting_for = what
            self.notifier.status("starting: waiting for %s" % what)

        def expire():
            if done.wait(timeout):
                return
            with lock:
                if done.is_set():
                    return
                self.fail(LaunchError(ExitCode.TEMPFAIL, self.start_timeout_message(),
                                      phase=phase))
                self.emitter.close()
                os._exit(ExitCode.TEMPFAIL)     # the main thread is stuck in the backend
        # A process the OS refuses another thread (pids.max, RLIMIT_NPROC) still starts:
        # the helpers are left out, never the cause of the failure (the monitor and
        # the workers' reports judge what follows).
        try:
            supervise.report_waiting(types.SimpleNamespace(send=waiting),
                                     threading.get_ident(), done)
            threading.Thread(target=expire, name="safe_launch-start-deadline",
                             daemon=True).start()
        except RuntimeError:        # "can't start new thread"
            pass
        try:
            yield
        finally:
            with lock:
                done.set()

    def start_time_left(self):
        """What the creation left of ``[safe_launch] start_timeout`` (at least 1 s)."""
        spent = time.monotonic() - self.start_began if self.start_began else 0
        return max(1.0, self.conf.safe_launch.start_timeout - spent)

    def start_timeout_message(self):
        return "no worker became ready within %ds ([safe_launch] start_timeout)%s" % (
            self.conf.safe_launch.start_timeout,
            "; waiting for %s" % self.start_waiting_for if self.start_waiting_for else "")

    def deadline_missed(self):
        """Why the service is stopping at a start or reload deadline (None: it is not)."""
        outcome = self.monitor.outcome
        if outcome.start_timed_out:
            return self.start_timeout_message()
        if outcome.reload_timed_out:
            return ("no worker served again within %ds of a reload ([safe_launch] "
                    "reload_timeout)%s" % (self.conf.safe_launch.reload_timeout,
                                           "; waiting for %s" % self.reload_waiting_for
                                           if self.reload_waiting_for else ""))
        return None

    # -- serving -----------------------------------------------------------------

    def monitor_for(self, reports):
        """The wait phase's Monitor over ``reports``, calling back into this object."""
        from safe_launch import crashloop
        from safe_launch import supervise
        policy = crashloop.CrashLoopPolicy(self.conf.safe_launch.crash_loop_max_failures,
                                           self.conf.safe_launch.crash_loop_window)
        self.monitor = supervise.Monitor(reports, policy, self.emitter, self.on_ready,
                                         self.on_crash_loop, tick=self.notifier.watchdog,
                                         tick_interval=self.notifier.watchdog_interval(),
                                         on_change=self.on_change,
                                         start_timeout=self.start_time_left(),
                                         on_start_timeout=self.on_start_timeout,
                                         reload_timeout=self.conf.safe_launch.reload_timeout,
                                         on_reload_timeout=self.on_reload_timeout)
        return self.monitor

    def ended(self, status):
        """The service's end, once the backend's wait returned ``status``."""
        outcome = self.monitor.outcome
        safe = self.conf.safe_launch
        if outcome.fork_refused is not None:
            raise LaunchError(ExitCode.OSERR, "cannot fork a worker: %s" % outcome.fork_refused)
        if self.deadline_missed():
            raise LaunchError(ExitCode.TEMPFAIL, self.deadline_missed())
        if outcome.crash_cause is not None:
            raise LaunchError(
                ExitCode.TEMPFAIL,
                "crash loop: %d workers in a row failed to start or died within %ds of "
                "becoming ready, last: %s" % (safe.crash_loop_max_failures,
                                              safe.crash_loop_window, outcome.crash_cause)
                if outcome.quick_deaths and not outcome.failures else
                "crash loop: %d workers in a row failed to start, last: %s"
                % (len(outcome.failures), outcome.crash_cause))
        self.emitter.emit(events.SERVICE_STOPPED, summary="stopped (%s)" % (
            "signal %s" % self.stop_signal if self.stop_signal else "status %s" % status),
            status=status, signal=self.stop_signal)
        if self.stop_signal is None and status:
            raise LaunchError(ExitCode.SOFTWARE, "the service ended with status %s" % status)

    def on_ready(self, pid, reloaded=False):
        self.emitter.emit(events.SERVICE_READY, summary="ready%s: worker %d serves RPC topic %s"
                          % (" again after the reload" if reloaded else "", pid, self.spec.topic),
                          worker_pid=pid, status=self.status_line(),
                          **({"reload": True} if reloaded else {}))
        self.notifier.ready(self.status_line())
        if reloaded and self.reload_again:      # reloads that came meanwhile: one more
            self.reload_again = False
            os.kill(os.getpid(), signals.signal.SIGHUP)

    def on_change(self):
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

    # -- stopping ------------------------------------------------------------------

    def on_crash_loop(self, cause):
        self.stop_now()

    def on_fork_refused(self, exc):
        """The OS refused to fork a worker (:func:`supervise.guard_forks`): stop, 71."""
        from safe_launch import supervise
        outcome = self.monitor.outcome
        if outcome.fork_refused is None and not outcome.stopping:
            outcome.fork_refused = supervise.fork_refused_reason(exc)
            self.stop_now()

    def on_start_timeout(self, waiting_for):
        self.start_waiting_for = waiting_for
        self.stop_now()

    def on_reload_timeout(self, serving, expected, waiting_for):
        """``reload_timeout`` passed before the reload's workers all served again."""
        self.emitter.emit(events.RELOAD_TIMED_OUT, outcome="failure",
                          summary="reload: %d of %d workers serve again after %ds "
                                  "([safe_launch] reload_timeout)%s" % (
                                      serving, expected, self.conf.safe_launch.reload_timeout,
                                      "; waiting for %s" % waiting_for if waiting_for else ""),
                          serving=serving, expected=expected)
        if not serving:
            self.reload_waiting_for = waiting_for
            return self.stop_now()
        self.notifier.ready(self.status_line() + ", reload incomplete")
        if self.reload_again:
            self.reload_again = False
            os.kill(os.getpid(), signals.signal.SIGHUP)

    def stop_now(self):
        """The launcher's own stop (crash loop, start deadline): as a SIGTERM would."""
        self.monitor.outcome.stopping = True
        self.bound_stop()
        os.kill(os.getpid(), signals.signal.SIGTERM)

    def on_stop(self, signo):
        outcome = self.monitor.outcome
        if outcome.crash_cause is not None or outcome.fork_refused or self.deadline_missed():
            return
        self.monitor.outcome.stopping = True
        self.stop_signal = signals.signal.Signals(signo).name
        self.notifier.stopping("stopping (%s)" % self.stop_signal)
        self.emitter.emit(events.STOP_REQUESTED, summary="stop requested (%s)" % self.stop_signal,
                          signal=self.stop_signal)
        self.bound_stop()

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
            crash = self.deadline_missed() or crash
            refused = self.monitor.outcome.fork_refused
            self.emitter.emit(events.STOP_FORCED, outcome="failure",
                              summary="stop: not stopped after %ds ([safe_launch] stop_timeout): "
                                      "workers killed" % seconds, stop_timeout=seconds)
            code = ExitCode.TEMPFAIL if crash is not None else ExitCode.OK
            if refused is not None:
                crash, code = "cannot fork a worker: %s" % refused, ExitCode.OSERR
            if crash is not None:
                self.fail(LaunchError(code, crash, phase="wait"))
            self.emitter.emit(events.SERVICE_STOPPED, summary="stopped (forced)",
                              signal=self.stop_signal)
            self.emitter.close()
            os._exit(code)
        self.monitor.stop_within(seconds, expired)

    # -- reloading -------------------------------------------------------------------

    def coalesce(self):
        self.reload_again = True
        self.emitter.emit(events.RELOAD_COALESCED, summary="reload: the previous reload's "
                          "workers are still starting; one more reload follows")
        return False

    def on_reload(self, register):
        """SIGHUP: pass it to the service only if the new configuration is clean.

        ``register(records)``: the masker learns the accepted files' secrets.
        A SIGHUP that comes while the workers of the previous reload are not
        all serving again is coalesced: one more reload (checked then, on the
        files as they are then) follows once they are.  It is coalesced
        before the check: a check reads and validates every option, and 50
        SIGHUPs each checked kept the master busy for tens of seconds (a
        SIGTERM waited behind them).
        """
        from safe_launch import configfiles
        from safe_launch import reload
        if self.monitor.outcome.reloading:
            self.notifier.reloading("reloading: one more reload follows the one in progress")
            return self.coalesce()
        self.notifier.reloading("reloading: checking the new configuration")
        workers = self.decisions["workers"]
        decision = reload.check(self.conf, self.decisions["guard"], self.spec,
                                register=register, overridden={
                                    (self.spec.workers_group or "DEFAULT",
                                     self.spec.workers_name): workers.requested}
                                if self.spec.forks else {})
        if decision.ok and not self.monitor.restarting():
            return self.coalesce()
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
        return configfiles.serving(decision.records)
