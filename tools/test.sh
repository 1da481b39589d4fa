#!/usr/bin/env bash
# Every test: installs what it needs (rabbitmq-server from Debian when root,
# nova and the test tools into .venv), then runs pep8 and the whole pytest
# suite, functional tests included (real nova 34, real RabbitMQ started by
# the tests).  With CI=true, missing nova or RabbitMQ fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    else
        echo "rabbitmq-server is missing and cannot be installed here (needs root and apt)" >&2
    fi
fi
bash tools/setup-env.sh
if [ "${CI:-}" = true ]; then
    export SAFE_LAUNCH_REQUIRE_SERVICES=1
fi
.venv/bin/flake8 safe_launch tests tools
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
