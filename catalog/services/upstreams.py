"""Registering and changing upstreams."""
from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from audit.services import audit_record
from catalog.credentials import CredentialError, credentials_seal, env_seal
from catalog.errors import CatalogError
from catalog.models import Upstream, UpstreamConnection, Visibility
from catalog.passthrough import PassthroughError, allowlist_clean
from catalog.services.rules import rest_allowed_check, sharing_check, text_clean
from catalog.version import catalog_version_bump
from config.egress import host_refusal

URL_SCHEMES = ("http", "https")


def _validate_url(url: str) -> None:
    parts = urlsplit(url) if url and len(url) <= 2048 else None
    if parts is None or parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
        raise CatalogError("The upstream URL must be an http or https URL with a host, of at most 2048 characters.")
    if parts.username is not None or parts.password is not None:
        raise CatalogError("Put upstream credentials in the authentication settings, not in the URL.")
    # An early, DNS-free answer for IP literals; the SSRF guard checks every resolved address at connect time.
    refusal = host_refusal(parts.hostname)
    if refusal is not None:
        raise CatalogError(f"The upstream URL is not allowed: {refusal}.")


def _validate_command(command: str, args: list[str] | None) -> None:
    if not settings.GATEHOUSE_STDIO_UPSTREAMS:
        raise CatalogError("stdio upstreams are switched off here (GATEHOUSE_STDIO_UPSTREAMS=false).")
    if not command or len(command) > 1024 or "\x00" in command:
        raise CatalogError("A stdio upstream needs the command to run.")
    if args is not None and not (isinstance(args, list) and all(isinstance(a, str) and "\x00" not in a for a in args)):
        raise CatalogError("Arguments must be a list of strings.")


def _validate_passthrough(names) -> list[str]:
    if names is not None and not isinstance(names, list | tuple):
        raise CatalogError("Header passthrough must be a list of header names.")
    try:
        return allowlist_clean(names)
    except PassthroughError as exc:
        raise CatalogError(str(exc)) from None


def _validate_auth(transport: str, auth_type: str) -> None:
    if auth_type not in Upstream.AuthType.values:
        raise CatalogError(f"Authentication must be one of {', '.join(Upstream.AuthType.values)}.")
    oauth = auth_type in (Upstream.AuthType.OAUTH_USER, Upstream.AuthType.OAUTH_CLIENT_CREDENTIALS)
    if oauth and transport not in (Upstream.Transport.STREAMABLE_HTTP, Upstream.Transport.SSE):
        raise CatalogError("OAuth authentication applies to MCP upstreams over HTTP (streamable HTTP or SSE).")


def _validate_binding(session_binding: str) -> None:
    if session_binding not in Upstream.SessionBinding.values:
        raise CatalogError(f"Session binding must be one of {', '.join(Upstream.SessionBinding.values)}.")


@transaction.atomic
def upstream_create(
    *,
    owner,
    name: str,
    url: str = "",
    transport: str = Upstream.Transport.STREAMABLE_HTTP,
    auth_type: str = Upstream.AuthType.NONE,
    credentials: dict | None = None,
    team=None,
    visibility: str = Visibility.PRIVATE,
    timeout_seconds: int | None = None,
    slug: str | None = None,
    enabled: bool = True,
    command: str = "",
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    session_binding: str = Upstream.SessionBinding.POOLED,
    header_passthrough: list[str] | None = None,
    capture_traffic: bool = False,
    actor=None,
) -> Upstream:
    if transport not in Upstream.Transport.values:
        raise CatalogError(f"Transport must be one of {', '.join(Upstream.Transport.values)}.")
    _validate_binding(session_binding)
    if transport == Upstream.Transport.REST:
        rest_allowed_check()
    if transport == Upstream.Transport.STDIO:
        _validate_command(command, args)
        url = ""
    else:
        _validate_url(url)
        if command or args or env:
            raise CatalogError("A command, arguments and environment apply to stdio upstreams only.")
    sharing_check(visibility, team)
    header_passthrough = _validate_passthrough(header_passthrough)
    _validate_auth(transport, auth_type)
    name = text_clean(name, "An upstream's name", 100, required=True)
    slug = slug or slugify(name).replace("-", "_")[:40]
    if not slug:
        raise CatalogError(f"Cannot derive a slug from the name {name!r}; give one.")
    if Upstream.objects.filter(name=name).exists() or Upstream.objects.filter(slug=slug).exists():
        raise CatalogError(f"An upstream named {name!r} or with slug {slug!r} already exists.")
    if timeout_seconds is None:
        timeout_seconds = settings.GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS
    if not 1 <= timeout_seconds <= 3600:
        raise CatalogError("The timeout must be between 1 and 3600 seconds.")
    try:
        sealed = credentials_seal(auth_type, credentials)
        env_sealed = env_seal(env)
    except CredentialError as exc:
        raise CatalogError(str(exc)) from None
    upstream = Upstream.objects.create(
        owner=owner,
        team=team,
        visibility=visibility,
        name=name,
        slug=slug,
        url=url,
        transport=transport,
        auth_type=auth_type,
        credentials_sealed=sealed,
        timeout_seconds=timeout_seconds,
        enabled=enabled,
        command=command,
        args=list(args or []),
        env_sealed=env_sealed,
        session_binding=session_binding,
        header_passthrough=header_passthrough,
        capture_traffic=capture_traffic,
    )
    audit_record(
        "upstream.create",
        actor=actor or owner,
        target=upstream,
        data={
            "url": url,
            "command": command,
            "args": list(args or []),
            "env": sorted(env or {}),
            "transport": transport,
            "auth_type": auth_type,
            "visibility": visibility,
            "header_passthrough": header_passthrough,
            "capture_traffic": capture_traffic,
        },
    )
    catalog_version_bump()
    return upstream


@transaction.atomic
def upstream_update(
    *, upstream: Upstream, actor, credentials: dict | None = None, env: dict | None = None, **changes
) -> Upstream:
    """Change plain fields (url, command, args, transport, enabled, visibility, team, timeout_seconds, auth_type),
    credentials and the stdio environment."""
    allowed = {"url", "command", "args", "transport", "enabled", "visibility", "team", "timeout_seconds", "auth_type",
               "name", "session_binding", "header_passthrough", "capture_traffic"}
    unknown = set(changes) - allowed
    if unknown:
        raise CatalogError(f"Cannot change {', '.join(sorted(unknown))} on an upstream.")
    if "session_binding" in changes:
        _validate_binding(changes["session_binding"])
    if "name" in changes:
        changes["name"] = text_clean(changes["name"], "An upstream's name", 100, required=True)
    if "header_passthrough" in changes:
        changes["header_passthrough"] = _validate_passthrough(changes["header_passthrough"])
    if changes.get("transport", upstream.transport) != upstream.transport:
        if Upstream.Transport.REST in (changes["transport"], upstream.transport):
            # Discovered tools and defined REST tools do not mix on one upstream.
            raise CatalogError("An upstream cannot change to or from the REST transport; register a new one.")
    for field, value in changes.items():
        setattr(upstream, field, value)
    if upstream.transport == Upstream.Transport.STDIO:
        _validate_command(upstream.command, upstream.args)
        upstream.url = ""
    else:
        _validate_url(upstream.url)
        upstream.command, upstream.args, upstream.env_sealed = "", [], ""
    sharing_check(upstream.visibility, upstream.team)
    _validate_auth(upstream.transport, upstream.auth_type)
    if env is not None and upstream.transport == Upstream.Transport.STDIO:
        try:
            upstream.env_sealed = env_seal(env)
        except CredentialError as exc:
            raise CatalogError(str(exc)) from None
    if credentials is not None or "auth_type" in changes:
        try:
            upstream.credentials_sealed = credentials_seal(upstream.auth_type, credentials)
        except CredentialError as exc:
            raise CatalogError(str(exc)) from None
    upstream.save()
    dropped = 0
    if ("url" in changes or "auth_type" in changes) and (
        upstream.auth_type != Upstream.AuthType.OAUTH_USER or "url" in changes
    ):
        # Users' tokens were granted for the old resource (or auth type): they must connect again.
        dropped, _ = UpstreamConnection.objects.filter(upstream=upstream).delete()
    audit_record(
        "upstream.update",
        actor=actor,
        target=upstream,
        data={"fields": sorted(changes), "credentials_changed": credentials is not None, "env_changed": env is not None,
              "connections_dropped": dropped},
    )
    catalog_version_bump()
    return upstream
