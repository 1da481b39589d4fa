#!/usr/bin/env bash
# The main job on an embedded default: a throwaway nova deployment (sqlite
# databases made by nova-manage, the in-process fake:/ transport) and
# nova-scheduler-safe on it, printing what it decided.  Ctrl-C stops it
# cleanly (exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
dir=${SAFE_LAUNCH_DEMO_DIR:-$(mktemp -d /tmp/safe-launch-demo.XXXXXX)}
conf=$(.venv/bin/python -m safe_launch.sandbox "$dir")
echo "sandbox: $dir (audit trail: $dir/audit.jsonl)"
exec .venv/bin/nova-scheduler-safe --config-file "$conf" "$@"
