#!/usr/bin/env bash
# Every test: installs what it needs (rabbitmq-server, mariadb-server from Debian when root,
# nova and the test tools into .venv), then runs pep8 and the whole pytest
# suite, functional tests included (real nova 34, real RabbitMQ started by
# the tests).  With CI=true, missing nova, RabbitMQ or MariaDB fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's rabbitmq-server and mariadb-server: the tests start private
# instances of both (and use a system MariaDB on 127.0.0.1:3306 when it answers).
missing=""
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing="$missing rabbitmq-server"
[ -x /usr/sbin/mariadbd ] || missing="$missing mariadb-server"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "$missing: missing and cannot be installed here (needs root and apt)" >&2
    fi
fi
bash tools/setup-env.sh
if [ "${CI:-}" = true ]; then
    export SAFE_LAUNCH_REQUIRE_SERVICES=1
fi
.venv/bin/flake8 safe_launch tests tools
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
