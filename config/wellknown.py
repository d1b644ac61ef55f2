"""Public, unauthenticated documents under well-known paths: robots.txt, security.txt (RFC 9116) and the OAuth
protected-resource metadata of the MCP endpoints (RFC 9728)."""
from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

METADATA_PATH = "/.well-known/oauth-protected-resource"
# The MCP endpoints a client may ask metadata for (the same shapes proxy/routing.py serves).
_MCP_PATH = re.compile(r"^(?:servers/[a-z0-9_-]{1,64}/)?(?:mcp|sse|ws)/?$")
# RFC 9116 asks for an Expires under a year away; without a configured date, publish a rolling one.
_DEFAULT_EXPIRY = timedelta(days=180)


def public_url(request: HttpRequest | None = None) -> str:
    """Gatehouse's canonical base URL (no trailing slash): the configured one, else the request's own."""
    if settings.GATEHOUSE_PUBLIC_URL:
        return settings.GATEHOUSE_PUBLIC_URL.rstrip("/")
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return ""


def www_authenticate(*, error: str = "invalid_token", scope: str = "") -> str:
    """The ``WWW-Authenticate`` value of an MCP 401 (or, with ``error="insufficient_scope"``, 403): where a client
    finds how to obtain a token (RFC 9728 §5.1) and, for a 403, which scope it needs (RFC 6750 §3.1)."""
    value = f'Bearer realm="gatehouse", error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    base = public_url()
    return f'{value}, resource_metadata="{base}{METADATA_PATH}"' if base else value


def authorization_servers() -> list[str]:
    """The issuers a client may get a token from: the configured list, and the external issuer whose access tokens
    Gatehouse accepts (OAUTH_ISSUER, tokens.oauth_issuer)."""
    servers = list(settings.GATEHOUSE_AUTHORIZATION_SERVERS)
    if settings.OAUTH_ISSUER and settings.OAUTH_ISSUER not in servers:
        servers.append(settings.OAUTH_ISSUER)
    return servers


def _text(body: str) -> HttpResponse:
    return HttpResponse(body, content_type="text/plain; charset=utf-8")


@require_safe
@cache_control(max_age=3600, public=True)
def robots_txt(request: HttpRequest) -> HttpResponse:
    return _text(settings.GATEHOUSE_ROBOTS_TXT.replace("\\n", "\n").rstrip("\n") + "\n")


@require_safe
@cache_control(max_age=3600, public=True)
def security_txt(request: HttpRequest) -> HttpResponse:
    """Published only when a contact is configured: an RFC 9116 file without Contact is invalid."""
    contacts = settings.SECURITY_TXT_CONTACTS
    if not contacts:
        raise Http404("No security contact is configured.")
    expires = settings.SECURITY_TXT_EXPIRES or (timezone.now() + _DEFAULT_EXPIRY).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [f"Contact: {contact}" for contact in contacts]
    lines.append(f"Expires: {expires}")
    if settings.SECURITY_TXT_POLICY:
        lines.append(f"Policy: {settings.SECURITY_TXT_POLICY}")
    lines.append(f"Preferred-Languages: {settings.SECURITY_TXT_LANGUAGES}")
    lines.append(f"Canonical: {public_url(request)}/.well-known/security.txt")
    return _text("\n".join(lines) + "\n")


@require_safe
def protected_resource_metadata(request: HttpRequest, resource_path: str = "") -> JsonResponse:
    """RFC 9728 metadata: which resource this is and which authorization servers issue tokens for it."""
    if resource_path and not _MCP_PATH.match(resource_path):
        raise Http404("Not an MCP endpoint.")
    base = public_url(request)
    document = {
        "resource": f"{base}/{resource_path}" if resource_path else base,
        "authorization_servers": authorization_servers(),
        "bearer_methods_supported": ["header"],
        "resource_name": "Gatehouse",
    }
    if settings.GATEHOUSE_RESOURCE_SCOPES:
        document["scopes_supported"] = list(settings.GATEHOUSE_RESOURCE_SCOPES)
    response = JsonResponse(document)
    response["Cache-Control"] = "public, max-age=300"
    return response
