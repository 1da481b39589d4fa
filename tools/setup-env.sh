#!/usr/bin/env bash
# Create .venv with safe_launch, nova, cinder and the test tools (pinned by
# constraints.txt).  Run by tools/demo.sh and tools/test.sh.  nova 34 and
# cinder 29 (the same OpenStack release) resolve to one set of oslo libraries
# under constraints.txt, so both go in this one venv: the tests of every
# service share it, and cinder adds about a minute to the install.
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
echo "setup-env: installing safe_launch, nova 34, cinder 29 and the test tools into .venv" \
     "(about 90 s the first time; quiet meanwhile)..." >&2
.venv/bin/pip install -q --upgrade pip
# pbr takes the version from git; a shallow or tag-less clone still installs.
PBR_VERSION=${PBR_VERSION:-0.1.0} .venv/bin/pip install -q -c constraints.txt -e ".[nova,cinder,test]"
echo "$stamp" > .venv/.setup-stamp
echo "setup-env: .venv is ready" >&2
