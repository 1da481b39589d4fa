#!/usr/bin/env bash
# The launch benchmark in one command: installs what it needs (rabbitmq-server
# from Debian when root and missing, for the RabbitMQ series; nova and
# safe_launch into .venv, as tools/test.sh does), then runs
# benchmarks.run with this checkout's venv.  Arguments go to benchmarks.run
# (--quick, --pairs N, --output PATH, --no-rabbit, --scheduling ...).
# Writes the launch section of benchmarks/RESULTS.md; about 10 minutes on an
# idle 2-CPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    else
        echo "rabbitmq-server: missing and cannot be installed here (needs root and apt);" \
             "the RabbitMQ series is skipped" >&2
    fi
fi
bash tools/setup-env.sh
exec .venv/bin/python -m benchmarks.run "$@"
