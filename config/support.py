"""The support bundle: what a maintainer needs to help (versions, settings, posture, recent logs), with every secret
taken out. Redaction works twice: by setting name (anything that looks like a secret is masked) and by value (every
known secret string, bearer values, Gatehouse tokens, credentials in URLs and ``password=``-style pairs are masked
wherever they appear, logs included)."""
from __future__ import annotations

import base64
import io
import json
import platform
import re
import sys
import zipfile
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError

MASK = "********"
_SECRET_NAME = re.compile(r"SECRET|PASSW|TOKEN|KEY|PEPPER|CREDENTIAL|PRIVATE|SIGNATURE|SALT|DSN|_URL$", re.I)
# Settings whose names match but hold nothing secret; shown for diagnosis.
_NOT_SECRET = {"GATEHOUSE_PUBLIC_URL", "STATIC_URL", "MEDIA_URL", "LOGIN_URL", "LOGOUT_URL", "SECURE_REFERRER_POLICY",
               "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "CSRF_HEADER_NAME", "AUTH_PASSWORD_VALIDATORS",
               "PASSWORD_HASHERS", "PASSWORD_RESET_TIMEOUT", "LOGIN_REDIRECT_URL", "REQUIRE_STRONG_SECRETS",
               "GATEHOUSE_TOKEN_CREATE_RATE_LIMIT", "GATEHOUSE_AUTHORIZATION_SERVERS"}

def _mask_assignment(match: re.Match) -> str:
    """``password=x`` → ``password=********``, keeping quotes so JSON stays JSON."""
    value = match.group(0)[len(match.group(1)):]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}{MASK}{quote}"


_VALUE_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    (re.compile(r"\bgt[a-z]_[A-Za-z0-9_-]{8,}"), MASK),  # Gatehouse token secrets
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@"), r"\1" + MASK + "@"),  # user:pass@ in URLs
    # Database, cache and broker URLs name hosts and databases as well: drop all but the scheme.
    (re.compile(r"(?i)\b(postgres(?:ql)?|mysql|redis|rediss|amqp|sqlite)://[^\s\"',]+"), r"\1://" + MASK),
)
# Log lines only: ``password=...`` and ``"token": "..."`` pairs (JSON members are redacted by name instead).
_ASSIGNMENT = (
    (re.compile(r"(?i)([\"']?[\w-]*(?:password|passwd|secret|token|api[_-]?key|pepper|authorization)[\w-]*[\"']?"
                r"\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s,;&\"']+)"),
     _mask_assignment),
)
PACKAGES = ("Django", "djangorestframework", "channels", "channels-redis", "mcp", "httpx2", "celery", "redis",
            "psycopg", "django-allauth", "django-csp", "django-ratelimit", "django-cors-headers", "uvicorn",
            "cryptography", "whitenoise", "drf-spectacular")


def known_secrets() -> list[str]:
    """Secret strings configured in this process, in the forms they could appear in (raw, base64)."""
    found: list[str] = []
    for value in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])):
        found.append(str(value))
    for ring in (settings.GATEHOUSE_ENCRYPTION_KEYS, settings.GATEHOUSE_TOKEN_PEPPERS):
        for key in ring.values():
            encoded = base64.urlsafe_b64encode(key).decode()
            found += [encoded, encoded.rstrip("="), key.hex()]
    for database in settings.DATABASES.values():
        if database.get("PASSWORD"):
            found.append(str(database["PASSWORD"]))
    return sorted((value for value in found if len(value) >= 4), key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str], *, assignments: bool = False) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    for pattern, replacement in (*_VALUE_PATTERNS, *(_ASSIGNMENT if assignments else ())):
        text = pattern.sub(replacement, text)
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _redact_value(name: str, value: Any) -> Any:
    if name not in _NOT_SECRET and _SECRET_NAME.search(name):
        return MASK if value else value
    if isinstance(value, dict):
        return {key: _redact_value(str(key), inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_redact_value(name, inner) for inner in value]
    return value


def redacted_settings() -> dict[str, Any]:
    names = sorted(name for name in dir(settings) if name.isupper())
    return {name: _redact_value(name, _jsonable(getattr(settings, name))) for name in names}


def versions() -> dict[str, Any]:
    installed = {}
    for package in PACKAGES:
        try:
            installed[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed[package] = None
    return {"python": sys.version, "platform": platform.platform(), "packages": installed}


def _tail(path: Path, lines: int) -> str:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - lines * 400))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:]) + "\n"


def log_files(extra: Iterable[Path] = ()) -> list[Path]:
    directory = Path(settings.GATEHOUSE_LOG_DIR)
    found = sorted(directory.glob("*.log")) if directory.is_dir() else []
    return [*found, *(Path(path) for path in extra)]


def support_bundle_write(*, target: Path | io.BytesIO, logs: Iterable[Path] = (), log_lines: int = 2000) -> list[str]:
    """Write the zip; returns the names it holds. Every text member passes ``redact_text``."""
    from config.posture import posture_report

    secrets = known_secrets()
    try:
        posture = posture_report(database=True)
    except DatabaseError as exc:
        # A bundle is most wanted when something is broken; an unreachable database must not prevent it.
        posture = {**posture_report(database=False), "database_checks": f"skipped: {type(exc).__name__}"}
    members = {
        "versions.json": versions(),
        "settings.json": redacted_settings(),
        "posture.json": posture,
        "created.json": {"created_at": datetime.now(timezone.utc).isoformat()},
    }
    written = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, redact_text(json.dumps(data, indent=2, default=repr), secrets))
            written.append(name)
        for path in log_files(logs):
            if path.is_file():
                name = f"logs/{path.name}"
                bundle.writestr(name, redact_text(_tail(path, log_lines), secrets, assignments=True))
                written.append(name)
    return written
