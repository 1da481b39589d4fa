"""Per-project hooks a :class:`safe_launch.spec.ServiceSpec` names.

An adapter is a module with five functions (doc/writing-a-spec.md):

- ``load_options(spec)``: the global ConfigOpts with what the project
  registers before its parse; safe before the backend is chosen;
- ``poison_eventlet()``: threading mode: eventlet can never patch;
- ``mark_patched()``: eventlet mode, after safe_launch patched: the
  project's own patch() becomes a no-op;
- ``create(spec, conf)``: after the parse and the patching, what the stock
  script does up to and including ``Service.create()``: ``(server,
  service.CreateDecision)``;
- ``before_serve()``: what the stock ``serve()`` does before it launches.

Only an adapter imports its project.
"""

import importlib


def of(spec):
    """The adapter module of ``spec``; ImportError when the project is missing."""
    return importlib.import_module(spec.adapter)
