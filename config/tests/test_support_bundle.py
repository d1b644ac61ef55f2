"""manage.py support_bundle: useful for diagnosis, and no secret of the environment survives in it."""
from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import zipfile

from config.settings.keyring import new_key_entry
from tests.processes import ROOT

UPSTREAM_TOKEN = "upstream-secret-value-" + secrets.token_hex(8)
GATEHOUSE_TOKEN = "gth_" + secrets.token_urlsafe(24)
DB_PASSWORD = "db-pass-" + secrets.token_hex(8)
REDIS_PASSWORD = "redis-pass-" + secrets.token_hex(8)
LOG_PASSWORD = "hunter2-" + secrets.token_hex(4)


def _bundle(tmp_path) -> tuple[dict[str, bytes], dict[str, str]]:
    env = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "GATEHOUSE_ENCRYPTION_KEYS": f"{new_key_entry('new')},{new_key_entry('old')}",
        "GATEHOUSE_TOKEN_PEPPERS": new_key_entry("p1"),
        "DATABASE_URL": f"postgres://gatehouse:{DB_PASSWORD}@db.internal:5432/gatehouse",
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
        "GATEHOUSE_LOG_DIR": str(tmp_path / "log"),
    }
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "gatehouse.log").write_text(
        "INFO started\n"
        f"DEBUG request headers Authorization: Bearer {GATEHOUSE_TOKEN}\n"
        f'DEBUG upstream payload {{"token": "{UPSTREAM_TOKEN}", "name": "fixture"}}\n'
        f"WARNING login failed password={LOG_PASSWORD} user=a@example.com\n"
        f"ERROR could not connect to postgres://gatehouse:{DB_PASSWORD}@db.internal:5432/gatehouse\n"
        f"ERROR settings dump SECRET_KEY {env['SECRET_KEY']}\n"
    )
    extra_log = tmp_path / "worker.log"
    extra_log.write_text(f"INFO celery broker redis://:{REDIS_PASSWORD}@cache.internal:6379/0 ready\n")
    output = tmp_path / "bundle.zip"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "SECRET_KEY"))}
    done = subprocess.run(
        [sys.executable, "manage.py", "support_bundle", "--output", str(output), "--log", str(extra_log)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings.local", "GATEHOUSE_VAR_DIR": str(tmp_path), **env},
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(output) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}, env


def _secret_forms(env: dict[str, str]) -> list[str]:
    forms = [env["SECRET_KEY"], UPSTREAM_TOKEN, GATEHOUSE_TOKEN, DB_PASSWORD, REDIS_PASSWORD, LOG_PASSWORD]
    for ring in ("GATEHOUSE_ENCRYPTION_KEYS", "GATEHOUSE_TOKEN_PEPPERS"):
        for entry in env[ring].split(","):
            encoded = entry.split(":", 1)[1]
            forms += [encoded, encoded.rstrip("="), base64.urlsafe_b64decode(encoded).hex()]
    return forms


def test_support_bundle_holds_no_secret_of_the_environment(tmp_path):
    members, env = _bundle(tmp_path)
    for name, content in members.items():
        text = content.decode()
        for secret in _secret_forms(env):
            assert secret not in text, f"{name} leaks a secret"
        assert "db.internal:5432" not in text or "postgres://" not in text


def test_support_bundle_is_useful(tmp_path):
    members, _ = _bundle(tmp_path)
    assert {"versions.json", "settings.json", "posture.json", "logs/gatehouse.log", "logs/worker.log"} <= set(members)
    versions = json.loads(members["versions.json"])
    assert versions["packages"]["Django"].startswith("5.2")
    settings = json.loads(members["settings.json"])  # still valid JSON after redaction
    assert settings["ALLOWED_HOSTS"] and settings["SECRET_KEY"] == "********"
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["DATABASES"]["default"]["PASSWORD"] == "********"
    log = members["logs/gatehouse.log"].decode()
    assert "login failed" in log and "user=a@example.com" in log and "Authorization: ********" in log
