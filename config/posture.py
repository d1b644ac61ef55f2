"""The security posture as data: switches, protective settings and the findings of the posture checks."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from config.checks import TAG

FEATURE_FLAGS = (
    "GATEHOUSE_ADMIN_UI",
    "GATEHOUSE_MANAGEMENT_API",
    "PUBLIC_REGISTRATION_ENABLED",
    "GATEHOUSE_HEADER_PASSTHROUGH",
    "GATEHOUSE_STDIO_UPSTREAMS",
    "GATEHOUSE_REST_TOOLS",
    "GATEHOUSE_BULK_IMPORT",
)


def posture_report(*, database: bool = True) -> dict[str, Any]:
    production = settings.ENVIRONMENT == "production"
    findings = checks.run_checks(
        tags=[TAG, checks.Tags.security],
        include_deployment_checks=production,
        databases=["default"] if database else None,
    )
    return {
        "environment": settings.ENVIRONMENT,
        "require_strong_secrets": settings.REQUIRE_STRONG_SECRETS,
        "feature_flags": {name: bool(getattr(settings, name, False)) for name in FEATURE_FLAGS},
        "settings": {
            "DEBUG": settings.DEBUG,
            "ALLOWED_HOSTS": list(settings.ALLOWED_HOSTS),
            "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
            "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
            "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
            "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
            "GATEHOUSE_EGRESS_ALLOW": list(settings.GATEHOUSE_EGRESS_ALLOW),
            "GATEHOUSE_PUBLIC_URL": settings.GATEHOUSE_PUBLIC_URL,
            "CORS_ALLOWED_ORIGINS": list(settings.CORS_ALLOWED_ORIGINS),
            "encryption_key_ids": list(settings.GATEHOUSE_ENCRYPTION_KEYS),
            "token_pepper_ids": list(settings.GATEHOUSE_TOKEN_PEPPERS),
        },
        "findings": [
            {"id": message.id, "level": _level(message), "message": message.msg, "hint": message.hint or ""}
            for message in findings
        ],
    }


def _level(message: checks.CheckMessage) -> str:
    if message.level >= checks.ERROR:
        return "error"
    return "warning" if message.level >= checks.WARNING else "info"
