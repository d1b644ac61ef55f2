#!/bin/sh
# Gatehouse container entrypoint. The first argument selects the role:
#   web     migrate (unless GATEHOUSE_MIGRATE_ON_START=false), then manage.py serve (uvicorn) on :8000
#   worker  Celery worker
#   beat    Celery beat
#   manage  python manage.py <rest of the arguments>
#   other   exec the arguments as given (e.g. "sh")
# Extra arguments after web/worker/beat are appended to the server command.
set -eu

# Wait (bounded) until the database named by DATABASE_URL accepts connections. Without DATABASE_URL, or for a
# non-PostgreSQL URL, there is nothing to wait for. The URL (it holds the password) is never printed.
wait_for_database() {
    python - <<'PY'
import os
import sys
import time

url = os.environ.get("DATABASE_URL", "")
if not url:
    sys.exit(0)

import dj_database_url

config = dj_database_url.parse(url)
if "postgresql" not in config.get("ENGINE", ""):
    sys.exit(0)

import psycopg

params = {
    "dbname": config.get("NAME"),
    "user": config.get("USER"),
    "password": config.get("PASSWORD"),
    "host": config.get("HOST"),
    "port": str(config.get("PORT") or ""),
}
params = {key: value for key, value in params.items() if value}
params.update(config.get("OPTIONS") or {})

tries = int(os.environ.get("DB_WAIT_TRIES", "60"))
last_error = "no attempt made"
for attempt in range(1, tries + 1):
    try:
        psycopg.connect(connect_timeout=2, **params).close()
    except psycopg.OperationalError as exc:
        last_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if attempt == 1:
            print("entrypoint: waiting for the database ...", file=sys.stderr, flush=True)
        time.sleep(1)
    else:
        sys.exit(0)
print(f"entrypoint: database not reachable after {tries} tries: {last_error}", file=sys.stderr)
sys.exit(1)
PY
}

role="${1:-web}"
if [ "$#" -gt 0 ]; then
    shift
fi

case "$role" in
    web)
        wait_for_database
        case "${GATEHOUSE_MIGRATE_ON_START:-true}" in
            true) python manage.py migrate --noinput ;;
            false) ;;
            *)
                echo "entrypoint: GATEHOUSE_MIGRATE_ON_START must be exactly 'true' or 'false'" >&2
                exit 2
                ;;
        esac
        # The web workers sum their metrics through one directory, which must start empty at each start; /tmp is a
        # tmpfs with the read-only root filesystem. Exported after migrate, which needs none.
        export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -type f -name '*.db' -delete  # only prometheus_client's files
        # manage.py serve: uvicorn with the lifespan on (usage flush, upstream pools closed) and a graceful drain
        # of GRACEFUL_TIMEOUT seconds after SIGTERM (keep the orchestrator's stop grace period longer).
        exec python manage.py serve \
            --host 0.0.0.0 \
            --port 8000 \
            --workers "${WEB_CONCURRENCY:-2}" \
            --graceful-timeout "${GRACEFUL_TIMEOUT:-30}" \
            --proxy-headers \
            --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
            "$@"
        ;;
    worker)
        wait_for_database
        exec celery -A config worker -l info --concurrency "${CELERY_CONCURRENCY:-2}" "$@"
        ;;
    beat)
        wait_for_database
        # The code directory is read-only for the service user: keep the schedule state in a writable place.
        exec celery -A config beat -l info --schedule "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
