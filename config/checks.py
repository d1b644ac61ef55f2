"""Start-up posture: Django system checks with stable ids, ``gatehouse.W0xx`` (or ``gatehouse.E0xx`` when
``REQUIRE_STRONG_SECRETS=true``, which makes every finding stop start-up).

Settings checks run with every ``manage.py`` command and when the ASGI application starts; checks that read the
database (registered upstreams, virtual servers) run with ``manage.py check --database default`` and in
``manage.py security_report``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

TAG = "gatehouse"
_EXPOSING_NETWORKS = ("0.0.0.0/0", "::/0", "169.254.169.254/32", "169.254.0.0/16", "fd00:ec2::254/128")


def _finding(number: int, message: str, hint: str) -> checks.CheckMessage:
    """A warning, or an error under REQUIRE_STRONG_SECRETS; the number is stable across both."""
    if settings.REQUIRE_STRONG_SECRETS:
        return checks.Error(message, hint=hint, id=f"gatehouse.E{number:03d}")
    return checks.Warning(message, hint=hint, id=f"gatehouse.W{number:03d}")


def _production() -> bool:
    return settings.ENVIRONMENT == "production"


def weak_secret(value: str | bytes) -> bool:
    """Short, repetitive or Django's placeholder: guessable rather than random."""
    if isinstance(value, str) and value.startswith("django-insecure"):
        return True
    return len(value) < 32 or len(set(value)) < min(16, len(value) // 2)


@checks.register(TAG, checks.Tags.security)
def check_secrets(app_configs=None, **kwargs: Any) -> list[checks.CheckMessage]:
    found = []
    if weak_secret(settings.SECRET_KEY) or len(settings.SECRET_KEY) < 50:
        found.append(_finding(1, "SECRET_KEY is a default or low-entropy value.",
                              "Use at least 50 random characters (python -c 'import secrets;print(secrets.token_urlsafe(64))')."))
    for name in ("GATEHOUSE_ENCRYPTION_KEYS", "GATEHOUSE_TOKEN_PEPPERS"):
        weak = [key_id for key_id, key in getattr(settings, name).items() if weak_secret(key)]
        if weak:
            found.append(_finding(2, f"{name} holds low-entropy keys: {', '.join(weak)}.",
                                  "Generate each key from 32 random bytes (os.urandom), urlsafe-base64 encoded."))
    return found


@checks.register(TAG, checks.Tags.security)
def check_production_settings(app_configs=None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not _production():
        return []
    found = []
    if settings.DEBUG:
        found.append(_finding(3, "DEBUG is on in production.", "Unset DEBUG: tracebacks reveal code and settings."))
    if "*" in settings.ALLOWED_HOSTS:
        found.append(_finding(4, "ALLOWED_HOSTS accepts any host in production.",
                              "List the host names Gatehouse is served under; '*' permits Host-header attacks."))
    insecure = [
        name for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_HTTPONLY")
        if not getattr(settings, name)
    ]
    if insecure:
        found.append(_finding(5, f"Cookies are not protected in production: {', '.join(insecure)} off.",
                              "Session and CSRF cookies must be Secure and HttpOnly."))
    if settings.GATEHOUSE_STDIO_UPSTREAMS:
        found.append(_finding(7, "stdio upstreams are enabled in production.",
                              "They run local commands with Gatehouse's privileges; set GATEHOUSE_STDIO_UPSTREAMS=false "
                              "unless you need them."))
    exposing = sorted(set(settings.GATEHOUSE_EGRESS_ALLOW) & set(_EXPOSING_NETWORKS))
    if exposing:
        found.append(_finding(9, f"GATEHOUSE_EGRESS_ALLOW admits {', '.join(exposing)} in production.",
                              "That reopens the cloud metadata service or every address to SSRF; list narrow ranges."))
    if settings.REST_FRAMEWORK.get("DEFAULT_PERMISSION_CLASSES") in ([], ["rest_framework.permissions.AllowAny"]):
        found.append(_finding(10, "The API does not require authentication.",
                              "Keep rest_framework.permissions.IsAuthenticated as the default permission."))
    if not settings.GATEHOUSE_PUBLIC_URL:
        found.append(_finding(11, "GATEHOUSE_PUBLIC_URL (or APP_DOMAIN) is not set in production.",
                              "OAuth metadata and 401 challenges then name whatever Host a request carries."))
    return found


def _wants_database(databases: Iterable[str] | None) -> bool:
    return bool(databases) and "default" in databases


def _names(queryset) -> list[str]:
    """Names from the database; none before the first migration (``migrate`` runs the checks too)."""
    try:
        return list(queryset)
    except DatabaseError:
        return []


@checks.register(TAG, checks.Tags.security)
def check_registered_upstreams(app_configs=None, databases=None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not _wants_database(databases) or not _production():
        return []
    from catalog.models import Upstream

    plain = _names(
        Upstream.objects.filter(enabled=True, url__istartswith="http://").order_by("name").values_list("name", flat=True)
    )
    if not plain:
        return []
    return [_finding(6, f"Upstreams reached over plain HTTP in production: {', '.join(plain[:20])}.",
                     "Credentials and tool traffic cross the network unencrypted; use https:// upstream URLs.")]


@checks.register(TAG, checks.Tags.security)
def check_anonymous_servers(app_configs=None, databases=None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not _wants_database(databases):
        return []
    from catalog.models import VirtualServer

    open_servers = _names(
        VirtualServer.objects.filter(allow_anonymous=True, enabled=True).order_by("slug").values_list("slug", flat=True)
    )
    if not open_servers:
        return []
    return [_finding(8, f"Virtual servers accept anonymous callers: {', '.join(open_servers[:20])}.",
                     "Anyone who can reach Gatehouse can call their tools; require a token unless that is intended.")]


def posture_enforce() -> None:
    """At ASGI start-up: refuse to serve when REQUIRE_STRONG_SECRETS turned a settings finding into an error."""
    errors = [message for message in checks.run_checks(tags=[TAG]) if message.is_serious()]
    if errors:
        raise ImproperlyConfigured(
            "Security posture check failed (REQUIRE_STRONG_SECRETS=true): "
            + "; ".join(f"{message.id}: {message.msg}" for message in errors)
        )
