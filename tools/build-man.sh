#!/usr/bin/env bash
# Rebuild the committed man pages (doc/man/*.8) from doc/source/man/*.rst with
# Sphinx's man builder. They are committed so that installing safe_launch needs
# no Sphinx; tests/unit/test_man_pages.py fails when they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/python -m sphinx -q -W -E -b man doc/source "$out"
cp "$out"/*.8 doc/man/
