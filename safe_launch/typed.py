"""oslo.config type objects from the data in known_opts.json.

Options that libraries register lazily (oslo.messaging's, keystonemiddleware's,
keystoneauth plugins') are not on the ConfigOpts when the launcher validates;
their types are recorded by ``tools/gen_known_opts.py`` as
``[class name, {arguments}]`` and rebuilt here with oslo.config's own type
classes, so a value is judged by the very code that will read it later.
"""

import functools
import json

from oslo_config import types

_BUILTINS = {"str": str, "int": int, "float": float, "bool": types.Boolean()}
_NESTED = ("item_type", "value_type")
_CLASSES = frozenset(("String", "MultiString", "Boolean", "Integer", "Float", "Port", "List",
                      "Dict", "Range", "IPAddress", "Hostname", "HostAddress", "HostDomain",
                      "URI"))


def build(spec):
    """The type (a callable raising ValueError on a bad value) ``spec`` describes."""
    return _build(json.dumps(spec, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _build(key):
    name, *rest = json.loads(key)
    if name in _BUILTINS:
        return _BUILTINS[name]
    if name not in _CLASSES:
        raise ValueError("unknown type %r in known_opts.json" % name)
    args = dict(rest[0]) if rest else {}
    for nested in _NESTED:
        if nested in args:
            args[nested] = build(args[nested])
    return getattr(types, name)(**args)
