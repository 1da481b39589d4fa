#!/usr/bin/env bash
# The main job on an embedded default: a throwaway nova deployment (sqlite
# databases made by nova-manage, the in-process fake:/ transport) and
# nova-scheduler-safe on it, printing what it decided.  Ctrl-C stops it
# cleanly (exit 0); the audit trail stays, with the commands to read it.
# Earlier demo sandboxes that nothing uses any more are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-env.sh
dir=${SAFE_LAUNCH_DEMO_DIR:-$(mktemp -d /tmp/safe-launch-demo.XXXXXX)}
echo "demo: preparing the sandbox $dir (nova-manage creates its databases)..." >&2
conf=$(.venv/bin/python -m safe_launch.sandbox --demo "$dir")
trail() {
    echo "demo: audit trail: $dir/audit.jsonl"
    echo "demo:   show it:   .venv/bin/safe-launch audit show $dir/audit.jsonl"
    echo "demo:   verify it: .venv/bin/safe-launch audit verify $dir/audit.jsonl"
}
echo "demo: the sandbox has no placement service: nova's complaints about it are silenced"
echo "demo: starting nova-scheduler-safe on $conf; Ctrl-C stops it"
trail
# The launcher leads its own process group and takes the terminal, so Ctrl-C
# reaches it alone; this shell only waits, then repeats where the trail is.
trap : INT
set +e
.venv/bin/nova-scheduler-safe --config-file "$conf" "$@"
code=$?
set -e
trail
exit "$code"
