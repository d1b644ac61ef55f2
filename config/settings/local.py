"""Local mode: embedded defaults, nothing to install. Secrets are generated once and kept under var/."""
from __future__ import annotations

import json
import secrets

from config.env import env_bool, env_list, env_secret, env_str
from config.settings.keyring import new_key_entry, parse_key_ring

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = env_bool("DEBUG", True)


def _local_secrets() -> dict[str, str]:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "local-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    generated = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "GATEHOUSE_ENCRYPTION_KEYS": new_key_entry("local1"),
        "GATEHOUSE_TOKEN_PEPPERS": new_key_entry("local1"),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(generated, indent=2))
    return generated


_generated = _local_secrets()
SECRET_KEY = env_secret("SECRET_KEY") or _generated["SECRET_KEY"]
GATEHOUSE_ENCRYPTION_KEYS = parse_key_ring(
    "GATEHOUSE_ENCRYPTION_KEYS",
    env_secret("GATEHOUSE_ENCRYPTION_KEYS") or _generated["GATEHOUSE_ENCRYPTION_KEYS"],
    key_bytes=32,
)
GATEHOUSE_TOKEN_PEPPERS = parse_key_ring(
    "GATEHOUSE_TOKEN_PEPPERS", env_secret("GATEHOUSE_TOKEN_PEPPERS") or _generated["GATEHOUSE_TOKEN_PEPPERS"]
)

# Hardening: the quick start and the tests run upstreams on loopback; production admits none by default.
GATEHOUSE_EGRESS_ALLOW = tuple(env_list("GATEHOUSE_EGRESS_ALLOW", ["127.0.0.0/8", "::1/128"]))
GATEHOUSE_PUBLIC_URL = env_str("GATEHOUSE_PUBLIC_URL", "http://127.0.0.1:8000")
