#!/usr/bin/env python3
"""Write safe_launch/data/<project>.json: every option the config-generator
namespaces of a project's services declare (their specs' ``namespaces``),
with its type, for :mod:`safe_launch.validate`.

Loading the namespaces imports oslo.messaging and oslo.service (hence
eventlet), which the launcher must not do before it picks the concurrency
backend, and costs about a second: so it is done here, at build time.  Run it
again after upgrading nova, cinder or an oslo library (a unit test fails until
then):

    python tools/gen_known_opts.py                # every built-in spec's file
    python tools/gen_known_opts.py FILE OUTPUT    # one built-in file (cinder.json)
    python tools/gen_known_opts.py MODULE:SPEC OUTPUT   # a third party's spec

Each option is ``[type, flags(, deprecated names)]``: ``type`` indexes the top-level ``types``
table (options share few distinct types), ``flags`` holds ``s`` (secret),
``m`` (multi-valued), ``r`` (required).  A type is ``[class name of
oslo_config.types, {constructor arguments}]``, rebuilt by
:func:`safe_launch.typed.build`.  The fields are those of oslo-config-generator's
machine-readable output (``_build_entry``: secret, required, deprecated_opts,
choices, min, max), plus what it leaves out and a check needs: regex,
max_length, quotes, ignore_case, item and value types, URI schemes, IP version.
"""

import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import types as pytypes

from keystoneauth1 import loading
from oslo_config import types

from safe_launch import spec as specs
from safe_launch import typed
from safe_launch import validate

BUILTINS = {str: "str", int: "int", float: "float", bool: "bool"}


def _choices(t):
    return list(t.choices) if getattr(t, "choices", None) is not None else None


def _ip_version(checker):
    for version in (4, 6):
        if checker == getattr(types.IPAddress(version), "version_checker"):
            return version
    return None


def _type_args(t):
    """(class name, constructor arguments) of an oslo_config.types object."""
    if isinstance(t, types.MultiString):
        return "MultiString", {}
    if isinstance(t, types.String):
        return "String", {"choices": _choices(t), "quotes": t.quotes or None,
                          "regex": t.regex.pattern if t.regex is not None else None,
                          "ignore_case": t.ignore_case or None, "max_length": t.max_length or None}
    if isinstance(t, types.Number):
        return type(t).__name__, {"min": t.min, "max": t.max, "choices": _choices(t)}
    if isinstance(t, types.List):
        return "List", {"item_type": spec_of(t.item_type), "bounds": t.bounds or None,
                        "min_length": t.min_length or None}
    if isinstance(t, types.Dict):
        return "Dict", {"value_type": spec_of(t.value_type), "bounds": t.bounds or None,
                        "key_value_separator": t.key_value_separator,
                        "min_length": t.min_length or None}
    if isinstance(t, types.URI):
        return "URI", {"max_length": t.max_length,
                       "schemes": sorted(t.schemes) if t.schemes else None}
    if isinstance(t, types.Range):
        return "Range", {"min": t.min, "max": t.max, "inclusive": t.inclusive}
    if isinstance(t, (types.HostAddress, types.HostDomain)):
        return type(t).__name__, {"version": _ip_version(t.ip_address.version_checker)}
    if isinstance(t, types.IPAddress):
        return "IPAddress", {"version": _ip_version(t.version_checker)}
    if isinstance(t, (types.Boolean, types.Hostname)):
        return type(t).__name__, {}
    if t in BUILTINS:
        return BUILTINS[t], {}
    print("unknown type %r: checked as a string" % (t,), file=sys.stderr)
    return "String", {}


def spec_of(t):
    """The JSON form of a type, without arguments left at their defaults."""
    if t is None:
        return None
    name, args = _type_args(t)
    args = {k: v for k, v in args.items() if v is not None and
            not (k == "key_value_separator" and v == ":")}
    spec = [name, args] if args else [name]
    typed.build(spec)           # every spec written must build
    return spec


class Table:
    """Distinct type specs, each written once."""

    def __init__(self):
        self.specs, self.index = [], {}

    def entry(self, opt, required=True):
        key = json.dumps(spec_of(opt.type), sort_keys=True)
        if key not in self.index:
            self.index[key] = len(self.specs)
            self.specs.append(json.loads(key))
        flags = ("s" if opt.secret else "") + ("m" if opt.multi else "") + (
            "r" if required and opt.required else "")
        return [self.index[key], flags]


def _names(group, opts, names, deprecated, table, required=True):
    """Add ``opts`` of ``group`` to ``names``/``deprecated`` as oslo.config looks them up.

    An option's entry ends with its deprecated ``[group, name]`` pairs, in
    oslo.config's lookup order, when it has any.
    """
    for opt in opts:
        entry = names.setdefault(group, {})[opt.dest] = table.entry(opt, required)
        olds = [[d.group or group, d.name or opt.dest] for d in opt.deprecated_opts
                if d.name or d.group]
        if olds:
            entry.append(olds)
        for old_group, old_name in olds:
            deprecated.setdefault(old_group, {})[old_name] = "%s.%s" % (group, opt.dest)


class _Placeholder(type):
    """Any attribute of a missing library: a class that can be subclassed,
    called and used as a decorator, so the module importing it still runs
    its option declarations."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder(name, (), {})

    def __call__(cls, *args, **kwargs):
        return _Placeholder("result", (), {})


class _MissingLibrary(pytypes.ModuleType):
    def __init__(self, name):
        super().__init__(name)
        self.__path__ = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder(name, (), {})


# Libraries a namespace's module imports that the venv may lack: cinder's
# opts import every backup and volume driver, and the gcs backup driver needs
# googleapiclient.  Each is imported as a placeholder when missing: the
# options are declared at import time and never touch it.
OPTIONAL_LIBRARIES = ("googleapiclient",)


def _placeholders():
    for name in OPTIONAL_LIBRARIES:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            print("%s is not installed: imported as a placeholder" % name, file=sys.stderr)
            sys.modules[name] = _MissingLibrary(name)


def _namespace(entry_point, table):
    names, deprecated = {}, {}
    for group, opts in entry_point.load()():
        group = getattr(group, "name", group) or "DEFAULT"
        _names(group, opts, names, deprecated, table)
    return {"distribution": "%s==%s" % (entry_point.dist.name, entry_point.dist.version),
            "opts": names, "deprecated": deprecated}


def _auth_plugin_opts(table):
    """Options of every installed keystoneauth plugin, plus auth_type/auth_section.

    keystoneauth registers them at runtime in whichever group names the
    plugin (``[placement] auth_type = password``): the namespaces list only
    some of them.  One name has one type in every plugin; whether it is
    required depends on the plugin, so it is not recorded.
    """
    names, deprecated = {}, {}
    opts = list(loading.get_auth_common_conf_options())
    for plugin in sorted(loading.get_available_plugin_names()):
        try:
            opts += [o._to_oslo_opt() for o in loading.get_plugin_options(plugin)]
        except Exception as exc:     # a plugin with a missing extra dependency
            print("skipping keystoneauth plugin %s: %s" % (plugin, exc), file=sys.stderr)
    _names("auth", opts, names, deprecated, table, required=False)
    return {"opts": names["auth"],
            "deprecated": {name: new.partition(".")[2]
                           for name, new in deprecated.get("auth", {}).items()}}


def namespaces_of(name):
    """The namespaces of ``MODULE:SPEC``, or of every built-in spec whose data file
    is ``name``, in order."""
    module, colon, attr = name.partition(":")
    if colon:
        return getattr(importlib.import_module(module), attr).namespaces
    found = [ns for s in specs.BUILTIN if s.known_opts == name for ns in s.namespaces]
    if not found:
        raise SystemExit("no built-in spec has the data file %s" % name)
    return tuple(dict.fromkeys(found))


def generate(name):
    _placeholders()
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="oslo.config.opts")}
    table = Table()
    return {
        "generated_by": "tools/gen_known_opts.py",
        "namespaces": {ns: _namespace(points[ns], table) for ns in namespaces_of(name)},
        "auth_plugin_opts": _auth_plugin_opts(table),
        "types": table.specs,
    }


def write(name, output):
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        # One value a line: diffable; whitespace costs json.load next to nothing.
        json.dump(generate(name), f, indent=0, sort_keys=True, separators=(",", ":"))
        f.write("\n")


def main(argv):
    if len(argv) == 3:
        write(argv[1], argv[2])
    elif len(argv) == 1:
        # One process per file: two projects' options share the global
        # ConfigOpts and clash (nova and cinder both register enable_new_services).
        for name in dict.fromkeys(s.known_opts for s in specs.BUILTIN):
            subprocess.run([sys.executable, argv[0], name, os.path.join(validate.DATA, name)],
                           check=True)
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
