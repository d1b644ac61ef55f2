#!/usr/bin/env bash
# Static checks of the container files; needs no Docker engine. Exits non-zero on the first failure.
#   PYTHON=.venv/bin/python docker/validate.sh
# Checks: entrypoint syntax (sh -n, and shellcheck when installed); compose file (`docker compose config` with
# dummy env and dummy secrets in a temp dir when the compose plugin exists, else a YAML parse and structure check
# with $PYTHON); hadolint on the Dockerfile when installed; the production settings load with the build-only
# values the Dockerfile uses for collectstatic.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
DOCKER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$DOCKER_DIR")"
TMP_DIR="$(mktemp -d)"
trap 'rm -rf "$TMP_DIR"' EXIT

step() { printf '==> %s\n' "$*"; }

# --- files the image needs -----------------------------------------------------------------------------------------
step "required files"
for path in docker/Dockerfile docker/Dockerfile.dockerignore docker/entrypoint.sh docker/compose.yaml \
            requirements/prod.txt; do
    [ -f "$REPO_DIR/$path" ] || { echo "missing $path" >&2; exit 1; }
done
[ -x "$DOCKER_DIR/entrypoint.sh" ] || { echo "docker/entrypoint.sh is not executable" >&2; exit 1; }

# --- entrypoint ----------------------------------------------------------------------------------------------------
step "sh -n docker/entrypoint.sh"
sh -n "$DOCKER_DIR/entrypoint.sh"
if command -v shellcheck >/dev/null 2>&1; then
    step "shellcheck docker/entrypoint.sh"
    shellcheck "$DOCKER_DIR/entrypoint.sh"
else
    step "shellcheck not installed: skipped"
fi

# --- compose -------------------------------------------------------------------------------------------------------
# A copy of the compose file in a temp tree with dummy secret files: nothing is written into the repository.
mkdir -p "$TMP_DIR/tree/docker/secrets"
cp "$DOCKER_DIR/compose.yaml" "$TMP_DIR/tree/docker/compose.yaml"
for name in secret_key encryption_keys token_peppers admin_password; do
    printf 'dummy-%s\n' "$name" >"$TMP_DIR/tree/docker/secrets/$name.txt"
done
export POSTGRES_PASSWORD=dummy-password PLATFORM_ADMIN_EMAIL=admin@example.invalid

if docker compose version >/dev/null 2>&1; then
    step "docker compose config -q"
    docker compose -f "$TMP_DIR/tree/docker/compose.yaml" config -q
    step "docker compose config -q refuses a missing POSTGRES_PASSWORD"
    if env -u POSTGRES_PASSWORD docker compose -f "$TMP_DIR/tree/docker/compose.yaml" config -q >/dev/null 2>&1; then
        echo "compose accepted an unset POSTGRES_PASSWORD" >&2; exit 1
    fi
else
    step "compose plugin not available: YAML parse and structure check with $PYTHON"
    "$PYTHON" - "$TMP_DIR/tree/docker/compose.yaml" <<'PY'
import os
import re
import sys

import yaml

path = sys.argv[1]
with open(path) as handle:
    doc = yaml.safe_load(handle)
errors = []

def need(condition, message):
    if not condition:
        errors.append(message)

services = doc.get("services") or {}
need(set(services) == {"postgres", "redis", "web", "worker", "beat"}, f"unexpected services: {sorted(services)}")
secrets = doc.get("secrets") or {}
need(set(secrets) == {"secret_key", "encryption_keys", "token_peppers", "admin_password"},
     f"unexpected secrets: {sorted(secrets)}")
for name, spec in secrets.items():
    file_name = (spec or {}).get("file", "")
    need(file_name.startswith("./secrets/"), f"secret {name} must be read from ./secrets/")
    need(os.path.isfile(os.path.join(os.path.dirname(path), file_name)), f"secret file for {name} not found")

for name in ("postgres", "redis"):
    need("healthcheck" in services.get(name, {}), f"{name} has no healthcheck")
    need("ports" not in services.get(name, {}), f"{name} must not publish ports")

secret_values = {"SECRET_KEY", "GATEHOUSE_ENCRYPTION_KEYS", "GATEHOUSE_TOKEN_PEPPERS", "PLATFORM_ADMIN_PASSWORD"}
for name, command in (("web", ["web"]), ("worker", ["worker"]), ("beat", ["beat"])):
    service = services.get(name, {})
    need(service.get("command") == command, f"{name}: command must be {command}")
    build = service.get("build") or {}
    need(build.get("context") == ".." and build.get("dockerfile") == "docker/Dockerfile", f"{name}: build section")
    env = service.get("environment") or {}
    need(env.get("DJANGO_SETTINGS_MODULE") == "config.settings.production", f"{name}: settings module")
    for key in ("DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "PLATFORM_ADMIN_EMAIL"):
        need(key in env, f"{name}: {key} missing")
    need(not secret_values & set(env), f"{name}: secrets must come through *_FILE, not plain variables")
    granted = set(service.get("secrets") or [])
    for key in secret_values:
        target = env.get(f"{key}_FILE", "")
        match = re.fullmatch(r"/run/secrets/([a-z_]+)", str(target))
        need(bool(match) and match.group(1) in granted and match.group(1) in secrets,
             f"{name}: {key}_FILE must point at a granted docker secret")
    depends = service.get("depends_on") or {}
    for dependency in ("postgres", "redis"):
        need((depends.get(dependency) or {}).get("condition") == "service_healthy",
             f"{name}: must wait for {dependency} to be healthy")
need(services.get("web", {}).get("ports") == ["127.0.0.1:8000:8000"], "web must publish 127.0.0.1:8000:8000 only")
for name in ("worker", "beat"):
    need("ports" not in services.get(name, {}), f"{name} must not publish ports")

# Required variables must fail loudly when unset.
text = open(path).read()
for variable in ("POSTGRES_PASSWORD", "PLATFORM_ADMIN_EMAIL"):
    need(re.search(r"\$\{" + variable + r":\?", text), f"{variable} must be required (${{{variable}:?...}})")
    need(not re.search(r"\$\{" + variable + r"(:?-)", text), f"{variable} must not have a default")

if errors:
    print("compose.yaml:\n  " + "\n  ".join(errors), file=sys.stderr)
    sys.exit(1)
print("compose.yaml: ok")
PY
fi

# --- hardening: non-root uid 1001, read-only root filesystem, healthcheck, graceful stop ---------------------------
# Checked with $PYTHON whether or not the compose plugin exists: `docker compose config` does not know these rules.
step "non-root uid 1001, read-only root filesystem, healthcheck, graceful stop"
"$PYTHON" - "$DOCKER_DIR" <<'PY'
import re
import sys
from pathlib import Path

import yaml

docker = Path(sys.argv[1])
dockerfile = (docker / "Dockerfile").read_text()
entrypoint = (docker / "entrypoint.sh").read_text()
compose = yaml.safe_load((docker / "compose.yaml").read_text())
errors = []

def need(condition, message):
    if not condition:
        errors.append(message)

final = dockerfile.split("AS final", 1)[-1]
users = re.findall(r"^USER\s+(\S+)", final, re.M)
need(users == ["1001:1001"], f"Dockerfile: the final stage must end as USER 1001:1001, found {users}")
need(re.search(r"--uid 1001\b", final) and re.search(r"--gid 1001\b", final), "Dockerfile: gatehouse must be uid/gid 1001")
need(re.search(r"^HEALTHCHECK\s.*\S", final, re.M) and "/health" in final, "Dockerfile: HEALTHCHECK on /health missing")
need("mkdir -p /app/var/audit-archive" in final and "chown -R gatehouse:gatehouse /app/var" in final,
     "Dockerfile: /app/var/audit-archive must exist and belong to gatehouse (named volumes copy that ownership)")
need("AUDIT_ARCHIVE_DIR=/app/var/audit-archive" in final, "Dockerfile: AUDIT_ARCHIVE_DIR must point at the volume")
need("manage.py collectstatic --noinput" in final, "Dockerfile: static files must be collected at build time")
for path in (docker / "Dockerfile", docker / "compose.yaml", docker / "entrypoint.sh", docker / "README.md"):
    need("10001" not in path.read_text(), f"{path.name}: still mentions uid 10001")

need(re.search(r"exec python manage\.py serve\b", entrypoint), "entrypoint: the web role must run manage.py serve")
need("--graceful-timeout" in entrypoint, "entrypoint: the web role must pass --graceful-timeout")
need(re.search(r'PROMETHEUS_MULTIPROC_DIR:-/tmp/', entrypoint), "entrypoint: multiprocess metrics must live under /tmp")

services = compose.get("services") or {}
for name in ("web", "worker", "beat"):
    service = services.get(name) or {}
    need(service.get("read_only") is True, f"compose {name}: read_only: true missing")
    tmpfs = service.get("tmpfs") or []
    tmpfs = [tmpfs] if isinstance(tmpfs, str) else tmpfs
    need(any(str(entry).split(":")[0] == "/tmp" for entry in tmpfs), f"compose {name}: tmpfs /tmp missing")
    need("audit-archive:/app/var/audit-archive" in (service.get("volumes") or []),
         f"compose {name}: the audit-archive volume must be mounted at /app/var/audit-archive")
    need(service.get("init") is True, f"compose {name}: init: true (signal forwarding, child reaping) missing")
    need("user" not in service or str(service["user"]).startswith("1001"), f"compose {name}: must run as uid 1001")
grace = str((services.get("web") or {}).get("stop_grace_period", ""))
match = re.fullmatch(r"(\d+)s", grace)
need(bool(match) and int(match.group(1)) > 30, "compose web: stop_grace_period must exceed GRACEFUL_TIMEOUT (30s)")
need("healthcheck" not in (services.get("web") or {}), "compose web: use the image HEALTHCHECK")
need("audit-archive" in (compose.get("volumes") or {}), "compose: named volume audit-archive missing")

if errors:
    print("hardening:\n  " + "\n  ".join(errors), file=sys.stderr)
    sys.exit(1)
print("hardening: ok")
PY

# --- Dockerfile ----------------------------------------------------------------------------------------------------
if command -v hadolint >/dev/null 2>&1; then
    step "hadolint docker/Dockerfile"
    hadolint --failure-threshold warning "$DOCKER_DIR/Dockerfile"
else
    step "hadolint not installed: skipped"
fi

# The collectstatic RUN line must carry every value the production settings require. Load the settings with
# exactly those values (and nothing else from the caller's environment) to catch drift between the two. Only the
# settings module is imported (no app loading), so this holds while apps are still being written.
step "production settings load with the Dockerfile's build-only values"
if [ -f "$REPO_DIR/config/settings/production.py" ]; then
    mapfile -t build_env < <(
        sed -n '/^RUN SECRET_KEY=/,/collectstatic/p' "$DOCKER_DIR/Dockerfile" \
            | grep -oE '^(RUN +)?[[:space:]]*[A-Z_]+=[^[:space:]]+' | sed -E 's/^(RUN +)?[[:space:]]*//'
    )
    [ "${#build_env[@]}" -ge 4 ] || { echo "could not read the build-only values from the Dockerfile" >&2; exit 1; }
    (cd "$REPO_DIR" && env -i PATH="$PATH" HOME="$TMP_DIR" DJANGO_SETTINGS_MODULE=config.settings.production \
        GATEHOUSE_VAR_DIR="$TMP_DIR/var" "${build_env[@]}" \
        "$PYTHON" -c "from django.conf import settings; assert settings.SECRET_KEY and settings.STATIC_ROOT")
else
    step "config/settings/production.py not present yet: skipped"
fi

step "docker: all static checks passed"
