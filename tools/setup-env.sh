#!/usr/bin/env bash
# Create .venv with safe_launch, nova and the test tools (pinned by
# constraints.txt).  Run by tools/demo.sh and tools/test.sh.
#
# The install is editable, so code changes need no reinstall; what does is
# a change of setup.cfg (entry points, extras, data files), constraints.txt
# or requirements.txt.  Their sha256 is kept in .venv/.setup-stamp after a
# successful install, and pip runs only when it differs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=$(cat setup.cfg constraints.txt requirements.txt | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat .venv/.setup-stamp 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup-env: creating .venv with $("$PYTHON" --version 2>&1)" >&2
    "$PYTHON" -m venv .venv
fi
echo "setup-env: installing safe_launch, nova 34 and the test tools into .venv" \
     "(about 90 s the first time; quiet meanwhile)..." >&2
.venv/bin/pip install -q --upgrade pip
# pbr takes the version from git; a shallow or tag-less clone still installs.
PBR_VERSION=${PBR_VERSION:-0.1.0} .venv/bin/pip install -q -c constraints.txt -e ".[nova,test]"
echo "$stamp" > .venv/.setup-stamp
echo "setup-env: .venv is ready" >&2
