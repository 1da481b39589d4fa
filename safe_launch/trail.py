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

from safe_launch import configfiles
from safe_launch import opts

_NAMES = ("audit_log", "audit_key_file", "audit_required", "audit_journal", "service_user")


@dataclasses.dataclass(frozen=True)
class TrailSettings:
    log: str
    key_file: str
    required: bool
    journal: bool
    service_user: str


def _raw(name, files, environ):
    env = "OS_%s__%s" % (opts.GROUP.upper(), name.upper())
    if env in environ:
        return environ[env]
    return configfiles.raw_value(files, opts.GROUP, name)[0]


def _typed(opt, raw):
    if raw is None or "$" in raw:
        return opt.default
    try:
        return opt.type(raw)
    except ValueError:      # reported by the validate phase
        return opt.default


def settings(files, environ, conf=None):
    """The trail's settings: from the parsed ``conf``, else raw from ``files``."""
    if conf is not None:
        group = conf[opts.GROUP]
        values = {name: group[name] for name in _NAMES}
    else:
        by_name = {opt.dest: opt for opt in opts.ALL_OPTS}
        values = {name: _typed(by_name[name], _raw(name, files, environ)) for name in _NAMES}
    return TrailSettings(values["audit_log"], values["audit_key_file"] or None,
                         values["audit_required"], values["audit_journal"],
                         values["service_user"] or None)


def open_file(trail):
    """The audit file sink of ``trail``; LaunchError (73, 78) or OSError if it cannot be."""
    from safe_launch import audit
    try:
        service_uid = configfiles.service_account(trail.service_user)[0]
    except Exception:       # an unknown user: reported by the validate phase
        service_uid = None
    key = audit.load_key(trail.key_file) if trail.key_file else None
    return audit.AuditFile(trail.log, key=key, service_uid=service_uid).open()
