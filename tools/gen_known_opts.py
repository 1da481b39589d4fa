#!/usr/bin/env python3
"""Write safe_launch/data/known_opts.json: the option names the config-generator
namespaces declare, for :func:`safe_launch.validate.unknown_keys`.

Loading the namespaces imports oslo.messaging and oslo.service (hence
eventlet), which the launcher must not do before it picks the concurrency
backend, and costs about a second: so it is done here, at build time.  Run it
again after upgrading nova or an oslo library (a unit test fails until then):

    python tools/gen_known_opts.py [OUTPUT]
"""

import importlib.metadata
import json
import os
import sys

from keystoneauth1 import loading

from safe_launch import validate

OUTPUT = os.path.join(os.path.dirname(__file__), "..", "safe_launch", "data", "known_opts.json")


def _names(group, opts, names, deprecated):
    """Add ``opts`` of ``group`` to ``names``/``deprecated`` as oslo.config looks them up."""
    for opt in opts:
        names.setdefault(group, set()).add(opt.dest)
        for d in opt.deprecated_opts:
            if d.name or d.group:
                deprecated.setdefault(d.group or group, {})[d.name or opt.dest] = (
                    "%s.%s" % (group, opt.dest))


def _namespace(entry_point):
    names, deprecated = {}, {}
    for group, opts in entry_point.load()():
        group = getattr(group, "name", group) or "DEFAULT"
        _names(group, opts, names, deprecated)
    return {"distribution": "%s==%s" % (entry_point.dist.name, entry_point.dist.version),
            "opts": {g: sorted(n) for g, n in sorted(names.items())},
            "deprecated": {g: dict(sorted(d.items())) for g, d in sorted(deprecated.items())}}


def _auth_plugin_opts():
    """Options of every installed keystoneauth plugin, plus auth_type/auth_section.

    keystoneauth registers them at runtime in whichever group names the
    plugin (``[placement] auth_type = password``): the namespaces list only
    some of them.
    """
    names, deprecated = {}, {}
    opts = list(loading.get_auth_common_conf_options())
    for plugin in sorted(loading.get_available_plugin_names()):
        try:
            opts += [o._to_oslo_opt() for o in loading.get_plugin_options(plugin)]
        except Exception as exc:     # a plugin with a missing extra dependency
            print("skipping keystoneauth plugin %s: %s" % (plugin, exc), file=sys.stderr)
    _names("auth", opts, names, deprecated)
    return {"opts": sorted(names["auth"]),
            "deprecated": {name: new.partition(".")[2]
                           for name, new in sorted(deprecated.get("auth", {}).items())}}


def generate():
    points = {ep.name: ep for ep in importlib.metadata.entry_points(group="oslo.config.opts")}
    return {
        "generated_by": "tools/gen_known_opts.py",
        "namespaces": {ns: _namespace(points[ns]) for ns in validate.NOVA_NAMESPACES},
        "auth_plugin_opts": _auth_plugin_opts(),
    }


def main(argv):
    output = argv[1] if len(argv) > 1 else OUTPUT
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(generate(), f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
