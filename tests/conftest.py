"""Hypothesis: CI runs a fixed (derandomized) set of examples so a landing never
depends on luck; local runs keep exploring new ones."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")
