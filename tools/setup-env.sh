#!/usr/bin/env bash
# Create .venv with safe_launch, nova, cinder and the test tools (pinned by
# constraints.txt).  Sourced by tools/demo.sh and tools/test.sh.  nova 34 and
# cinder 29 (the same OpenStack release) resolve to one set of oslo libraries
# under constraints.txt, so both go in this one venv: the tests of every
# service share it, and cinder adds about a minute to the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# pbr takes the version from git; a shallow or tag-less clone still installs.
PBR_VERSION=${PBR_VERSION:-0.1.0} .venv/bin/pip install -q -c constraints.txt -e ".[nova,cinder,test]"
