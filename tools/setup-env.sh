#!/usr/bin/env bash
# Create .venv with safe_launch, nova and the test tools (pinned by
# constraints.txt).  Sourced by tools/demo.sh and tools/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# pbr takes the version from git; a shallow or tag-less clone still installs.
PBR_VERSION=${PBR_VERSION:-0.1.0} .venv/bin/pip install -q -c constraints.txt -e ".[nova,cinder,test]"
