"""Patching phase: choose the concurrency backend once, patch exactly what is
allowed, and prove it.

nova decides this itself at import time of ``nova.cmd.*`` through a second,
private config parse (nova/monkey_patch.py).  safe_launch never imports
``nova.cmd``: it decides from the configuration it already parsed and
validated, then does what ``nova.monkey_patch.patch()`` would do, minus the
all-or-nothing ``eventlet.monkey_patch()``.
"""

import dataclasses
import glob
import os
import site
import sys

from safe_launch.errors import ExitCode, LaunchError

ENV = "OS_NOVA_DISABLE_EVENTLET_PATCHING"
ENV_THREADING = ("1", "true", "yes")
ENV_EVENTLET = ("0", "false", "no")
# The keywords eventlet.monkey_patch() accepts (eventlet/patcher.py).
TARGETS = ("os", "select", "socket", "thread", "time", "psycopg", "MySQLdb",
           "builtins", "subprocess")
# nova names these as breaking when imported before patching.
PROBLEM_MODULES = ("urllib3", "oslo_context.context")


@dataclasses.dataclass(frozen=True)
class PatchingDecision:
    backend: str                 # "threading" or "eventlet"
    source: str                  # where the decision came from
    allowlist: tuple = ()        # eventlet targets to patch (empty: threading)
    patched: tuple = ()          # verified patched targets, filled by apply()
    warnings: tuple = ()

    def summary(self):
        patched = ", ".join(self.patched) or "nothing"
        return "patching: %s backend (%s); patched: %s" % (
            self.backend, self.source, patched)


def decide(environ, conf_backend, conf_source, default_backend, allowlist):
    """Pure: the backend and allowlist, or LaunchError(78) with every reason."""
    env = environ.get(ENV)
    if env:
        value = env.strip().lower()
        if value in ENV_THREADING:
            backend = "threading"
        elif value in ENV_EVENTLET:
            backend = "eventlet"
        else:
            raise LaunchError(ExitCode.CONFIG, "%s=%r is not one of %s" % (
                ENV, env, "/".join(ENV_THREADING + ENV_EVENTLET)))
        source = "environment %s=%s" % (ENV, env)
    elif conf_backend in ("threading", "eventlet"):
        backend, source = conf_backend, "[DEFAULT] concurrency_backend (%s)" % conf_source
    else:
        backend, source = default_backend, "default of the service (concurrency_backend=auto)"
    if backend == "threading":
        return PatchingDecision(backend, source)
    problems = ["[safe_launch] monkey_patch_allowlist: %r is not an eventlet target; "
                "accepted: %s" % (name, ", ".join(TARGETS))
                for name in allowlist if name not in TARGETS]
    if not problems and "thread" not in allowlist:
        problems.append("[safe_launch] monkey_patch_allowlist: eventlet mode needs 'thread': "
                        "oslo.service's eventlet backend and nova's greenthreads "
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


def preflight():
    """Refuse (78) when eventlet is already imported or anything is patched."""
    eventlet = sys.modules.get("eventlet")
    if eventlet is None:
        return
    patcher = sys.modules.get("eventlet.patcher")
    patched = [t for t in TARGETS if patcher and patcher.is_monkey_patched(t)]
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


def apply(decision, strict=False):
    """Patch exactly ``decision.allowlist`` (or block eventlet) and verify."""
    from nova import monkey_patch
    import oslo_service.backend as backend

    preflight()
    warnings = ()
    if decision.backend == "threading":
        # Blocks ``import eventlet`` for the life of the process.
        monkey_patch.poison_eventlet()
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
        monkey_patch.MONKEY_PATCHED = True   # nova's own patch() becomes a no-op
        backend.init_backend(backend.BackendType.EVENTLET)
    result = dataclasses.replace(decision, patched=patched_targets(), warnings=warnings)
    verify(result)
    return result


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
