"""Where the audit trail goes, decided as early as it can be known.

A refused launch is exactly what an auditor looks for, so the trail cannot
wait for a clean configuration: it opens right after the command line is
guarded and the files it names pass their type checks, from ``[safe_launch]``
read raw the way oslo.config will read it (``OS_SAFE_LAUNCH__<OPT>``, else the
last value in the files, else the default).  A raw value that needs
``$substitution`` or is not valid for its type counts as unset here; after
the parse the launcher compares these settings with the parsed ones and
moves the trail if they differ, so the parsed configuration always wins.
"""

import dataclasses
import os

from safe_launch import configfiles
from safe_launch.errors import ExitCode
from safe_launch import opts
from safe_launch import recordtype

_NAMES = ("audit_log", "audit_key_file", "audit_required", "audit_journal", "service_user")
_OPTS = {opt.dest: opt for opt in opts.ALL_OPTS}


class TrailSettings(recordtype.Frozen):
    log: str
    key_file: str
    required: bool
    journal: bool
    service_user: str
    deferred: bool = False      # the raw audit_log needs $substitution: known after the parse


def at_default(settings, spec):
    """``settings`` with the spec's default location (a deferred one, for a launch
    that failed)."""
    return dataclasses.replace(settings, log=spec.audit_log, deferred=False)


def _raw(name, files, environ):
    return configfiles.raw_value(files, opts.GROUP, name, environ)[0]


def _typed(opt, raw, default):
    if raw is None or "$" in raw:       # substitution: only the parse knows the value
        return default
    try:
        return opt.type(raw)
    except ValueError:      # reported by the validate phase
        return default


def early(name, files, environ):
    """``[safe_launch] name`` before the parse: raw and typed, as for the trail."""
    return _typed(_OPTS[name], _raw(name, files, environ), _OPTS[name].default)


def settings(files, environ, spec, conf=None):
    """The trail's settings: from the parsed ``conf``, else raw from ``files``
    (with the spec's audit-log default)."""
    if conf is not None:
        group = conf[opts.GROUP]
        values = {name: group[name] for name in _NAMES}
        deferred = False
    else:
        raw = {name: _raw(name, files, environ) for name in _NAMES}
        defaults = dict({name: _OPTS[name].default for name in _NAMES},
                        audit_log=spec.audit_log)
        values = {name: _typed(_OPTS[name], raw[name], defaults[name]) for name in _NAMES}
        deferred = "$" in (raw["audit_log"] or "") or "$" in (raw["audit_key_file"] or "")
    return TrailSettings(values["audit_log"], values["audit_key_file"] or None,
                         values["audit_required"], values["audit_journal"],
                         values["service_user"] or None, deferred)


def _service_uid(trail):
    try:
        return configfiles.service_account(trail.service_user)[0]
    except Exception:       # an unknown user: reported by the validate phase
        return None


def open_file(trail):
    """``(sink, key_refusal)``: the audit file sink of ``trail``; LaunchError (73) or
    OSError if it cannot be opened.

    A refused key file (``key_refusal``, an :class:`audit.KeyRefused`) does not
    leave the launch off the record: the trail opens where it is configured,
    unkeyed, so the refusal is in the file the operator reads and verifies.  A
    keyed ``audit verify`` then names those records (no MAC): they are what
    they are, unauthenticated, and the chain still shows any removal.
    """
    from safe_launch import audit
    refusal = None
    try:
        key = load_key(trail) if trail.key_file else None
    except audit.KeyRefused as exc:
        key, refusal = None, exc
    return audit.AuditFile(trail.log, key=key, service_uid=_service_uid(trail)).open(), refusal


def load_key(trail):
    """The key of ``trail.key_file``, as a launch (and its check) may use it:
    :func:`audit.load_key`'s rules for the file, plus where it is.  Whoever can
    replace the key can MAC records of their own, so it gets the trail's
    rules: an absolute path, no directory on the way others can write, owned
    by root, this process or the service account (KeyRefused, 78)."""
    from safe_launch import audit
    path, service_uid = trail.key_file, _service_uid(trail)

    def refuse(why):
        raise audit.KeyRefused(ExitCode.CONFIG, "audit key file %s %s" % (path, why))
    problem = audit.location_problem(path, service_uid)
    if problem:
        refuse(problem)
    try:
        owner = os.lstat(path).st_uid
    except OSError:
        owner = None        # audit.load_key says why it cannot be read
    if owner is not None and owner not in (0, os.geteuid(), service_uid):
        refuse("is owned by uid %d" % owner)
    return audit.load_key(path)


def preflight(trail):
    """What :func:`open_file` would refuse (LaunchError 73, 78), creating and writing
    nothing: ``safe-launch check`` exits with the code the launch would give."""
    from safe_launch import audit
    if trail.key_file:
        load_key(trail)
    audit.preflight(trail.log, "audit log", _service_uid(trail))
    audit.preflight(audit.anchor_path(trail.log), "audit anchor", _service_uid(trail))
