"""Patching phase: choose the concurrency backend once, patch exactly what is
allowed, and prove it.

A project decides this itself at import time of its ``<project>.cmd.*``
(nova through a second, private config parse, cinder from the environment;
``<project>/monkey_patch.py``).  safe_launch never imports the stock
scripts: it decides from what the spec names (its environment switch, its
[DEFAULT] option, its default) in the configuration it already parsed and
validated, then does what the project's ``monkey_patch.patch()`` would do,
minus the all-or-nothing ``eventlet.monkey_patch()``, through the spec's
adapter.
"""

import dataclasses
import glob
import os
import site
import sys

from safe_launch.errors import ExitCode, LaunchError
from safe_launch import recordtype

ENV_THREADING = ("1", "true", "yes")
ENV_EVENTLET = ("0", "false", "no")
# The keywords eventlet.monkey_patch() accepts (eventlet/patcher.py).
TARGETS = ("os", "select", "socket", "thread", "time", "psycopg", "MySQLdb",
           "builtins", "subprocess")
# nova and cinder name these as breaking when imported before patching.
PROBLEM_MODULES = ("urllib3", "oslo_context.context")


class PatchingDecision(recordtype.Frozen):
    backend: str                 # "threading" or "eventlet"
    source: str                  # where the decision came from
    allowlist: tuple = ()        # eventlet targets to patch (empty: threading)
    patched: tuple = ()          # verified patched targets, filled by apply()
    warnings: tuple = ()

    def summary(self):
        patched = ", ".join(self.patched) or "nothing"
        return "patching: %s backend (%s); patched: %s" % (
            self.backend, self.source, patched)


def configured(spec, conf):
    """``(value, where)`` of the spec's backend option; (None, None) when it has none."""
    if spec.backend_opt is None:
        return None, None
    location = conf.get_location(spec.backend_opt)
    return conf[spec.backend_opt], location.detail if location else "default"


def decide(environ, conf_backend, conf_source, default_backend, allowlist, env=None,
           option="concurrency_backend"):
    """Pure: the backend and allowlist, or LaunchError(78) with every reason.

    ``env``: the environment switch (``OS_<PROJECT>_DISABLE_EVENTLET_PATCHING``),
    None when the project has none; ``option``: the [DEFAULT] option that
    ``conf_backend`` is the value of (None: the project has none).
    """
    value = environ.get(env) if env else None
    if value:
        setting = value.strip().lower()
        if setting in ENV_THREADING:
            backend = "threading"
        elif setting in ENV_EVENTLET:
            backend = "eventlet"
        else:
            raise LaunchError(ExitCode.CONFIG, "%s=%r is not one of %s" % (
                env, value, "/".join(ENV_THREADING + ENV_EVENTLET)))
        source = "environment %s=%s" % (env, value)
    elif conf_backend in ("threading", "eventlet"):
        backend, source = conf_backend, "[DEFAULT] %s (%s)" % (option, conf_source)
    else:
        backend, source = default_backend, ("default of the service (%s=auto)" % option
                                            if option else "default of the service")
    if backend == "threading":
        return PatchingDecision(backend, source)
    problems = ["[safe_launch] monkey_patch_allowlist: %r is not an eventlet target; "
                "accepted: %s" % (name, ", ".join(TARGETS))
                for name in allowlist if name not in TARGETS]
    if not problems and "thread" not in allowlist:
        problems.append("[safe_launch] monkey_patch_allowlist: eventlet mode needs 'thread': "
                        "oslo.service's eventlet backend and the service's greenthreads "
                        "deadlock on native locks")
    if problems:
        raise LaunchError(ExitCode.CONFIG, problems[0], problems)
    return PatchingDecision(backend, source, tuple(sorted(set(allowlist))))


def _culprits():
    """Files that may patch before the launcher runs (sitecustomize, .pth)."""
    found = []
    for name in ("sitecustomize", "usercustomize"):
        module = sys.modules.get(name)
        if getattr(module, "__file__", None):
            found.append(module.__file__)
    dirs = site.getsitepackages() + [site.getusersitepackages()]
    for pth in sorted(p for d in dirs for p in glob.glob(os.path.join(d, "*.pth"))):
        try:
            with open(pth, errors="replace") as f:
                if "eventlet" in f.read():
                    found.append(pth)
        except OSError:
            continue
    return found


def preflight(imported_ok=False):
    """Refuse (78) when eventlet is already imported or anything is patched.

    ``imported_ok``: the service's package imports eventlet itself (the
    spec's ``imports_eventlet``), so imported-but-nothing-patched is the
    expected state and only a patched target is refused.
    """
    eventlet = sys.modules.get("eventlet")
    if eventlet is None:
        return
    patcher = sys.modules.get("eventlet.patcher")
    patched = [t for t in TARGETS if patcher and patcher.is_monkey_patched(t)]
    if imported_ok and not patched:
        return
    what = ("already monkey-patched: %s" % ", ".join(patched) if patched
            else "eventlet already imported")
    culprits = _culprits()
    where = "; culprit: %s" % ", ".join(culprits) if culprits else ""
    raise LaunchError(ExitCode.CONFIG, "%s before the launcher chose the backend%s"
                      % (what, where))


def patched_targets():
    """Targets eventlet reports as patched (none when eventlet never loaded)."""
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is None:
        return ()
    return tuple(sorted(t for t in TARGETS if patcher.is_monkey_patched(t)))


def apply(decision, spec, strict=False):
    """Patch exactly ``decision.allowlist`` (or block eventlet) and verify,
    through the spec's adapter."""
    import oslo_service.backend as backend

    from safe_launch import adapters

    hooks = adapters.of(spec)
    preflight(spec.imports_eventlet)
    warnings = ()
    if decision.backend == "threading":
        hooks.poison_eventlet()
        backend.init_backend(backend.BackendType.THREADING)
    else:
        early = tuple(m for m in PROBLEM_MODULES if m in sys.modules)
        if early:
            message = ("modules with known eventlet patching problems imported before "
                       "patching: %s" % ", ".join(early))
            if strict:
                raise LaunchError(ExitCode.CONFIG, message)
            warnings = (message,)
        import eventlet
        eventlet.monkey_patch(**{t: t in decision.allowlist for t in TARGETS})
        hooks.mark_patched()        # the project's own patch() becomes a no-op
        backend.init_backend(backend.BackendType.EVENTLET)
    result = dataclasses.replace(decision, patched=patched_targets(), warnings=warnings)
    verify(result)
    return result


def phase(spec, conf):
    """The patching phase: decide from the environment and ``conf``, then apply."""
    policy = conf.safe_launch
    decision = decide(os.environ, *configured(spec, conf), spec.default_backend,
                      policy.monkey_patch_allowlist, env=spec.patching_env,
                      option=spec.backend_opt)
    return apply(decision, spec, strict=policy.strict_patching)


def verify(decision):
    """Raise LaunchError(78) unless exactly the allowlist is patched."""
    patched = set(patched_targets())
    expected = set(decision.allowlist)
    if patched != expected:
        extra = ", ".join(sorted(patched - expected)) or "-"
        missing = ", ".join(sorted(expected - patched)) or "-"
        raise LaunchError(ExitCode.CONFIG, "%s mode: patched set differs from the "
                          "allowlist (unexpected: %s; missing: %s)"
                          % (decision.backend, extra, missing))
