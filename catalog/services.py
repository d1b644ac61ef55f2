"""Writes to the catalog. Every function validates, writes in one transaction, audits and bumps the catalog version."""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import audit_record
from catalog.composition import PROMPTS, RESOURCES, TOOLS, Entries, EntryKind, composition_set
from catalog.credentials import CONNECTION_SEALED_FIELDS, SEALED_FIELDS, CredentialError, credentials_seal, env_seal
from catalog.discovery import DiscoveredCatalog, discover, schema_text
from catalog.errors import CatalogError
from catalog.models import (
    Prompt,
    Resource,
    ResourceTemplate,
    RestEndpoint,
    Tool,
    Upstream,
    UpstreamConnection,
    VirtualServer,
    Visibility,
)
from catalog.naming import exposed_name, is_valid_tool_name
from catalog.passthrough import PassthroughError, allowlist_clean
from catalog.rest import RestDefinitionError, definition_clean, schema_object
from catalog.selectors import upstream_target
from catalog.version import catalog_version_bump
from config.crypto import SecretDecryptionError, active_key_id, reseal
from config.display import DisplayTextError, display_text_clean
from config.egress import host_refusal
from teams.selectors import principal_for_user

URL_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class DiscoveryReport:
    upstream: Upstream
    ok: bool
    error: str
    tools: list[str]
    resources: int
    resource_templates: int
    prompts: int
    vanished: int


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
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) and "\x00" not in a for a in args)):
        raise CatalogError("Arguments must be a list of strings.")


def _validate_rest_allowed() -> None:
    if not settings.GATEHOUSE_REST_TOOLS:
        raise CatalogError("REST upstreams are switched off here (GATEHOUSE_REST_TOOLS=false).")


def _validate_sharing(visibility: str, team) -> None:
    if visibility not in Visibility.values:
        raise CatalogError(f"Visibility must be one of {', '.join(Visibility.values)}.")
    if visibility == Visibility.TEAM and team is None:
        raise CatalogError("Team visibility needs a team.")


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
        _validate_rest_allowed()
    if transport == Upstream.Transport.STDIO:
        _validate_command(command, args)
        url = ""
    else:
        _validate_url(url)
        if command or args or env:
            raise CatalogError("A command, arguments and environment apply to stdio upstreams only.")
    _validate_sharing(visibility, team)
    header_passthrough = _validate_passthrough(header_passthrough)
    _validate_auth(transport, auth_type)
    name = _display(name, "An upstream's name", 100, required=True)
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


def _display(value, label: str, max_length: int, *, required: bool = False, multiline: bool = False) -> str:
    try:
        return display_text_clean(value, label=label, max_length=max_length, required=required, multiline=multiline)
    except DisplayTextError as exc:
        raise CatalogError(str(exc)) from None


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
        changes["name"] = _display(changes["name"], "An upstream's name", 100, required=True)
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
    _validate_sharing(upstream.visibility, upstream.team)
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


def upstream_discover(*, upstream: Upstream, actor=None) -> DiscoveryReport:
    """Ask the upstream what it offers and bring the catalog in line. Network first, then one transaction.
    A REST upstream offers what its administrator defined: its definitions are checked again instead."""
    if upstream.transport == Upstream.Transport.REST:
        return rest_upstream_check(upstream=upstream, actor=actor)
    try:
        found = async_to_sync(discover)(upstream_target(upstream))
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the upstream and reported
        return _discovery_failed(upstream, _reason(exc), actor)
    try:
        return _catalog_apply(upstream, found, actor)
    except CatalogError as exc:
        return _discovery_failed(upstream, str(exc), actor)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@transaction.atomic
def _discovery_failed(upstream: Upstream, error: str, actor) -> DiscoveryReport:
    Upstream.objects.filter(pk=upstream.pk).update(
        discovery_status=Upstream.DiscoveryStatus.FAILED, discovery_error=error[:2000]
    )
    upstream.refresh_from_db()
    audit_record("upstream.discover", actor=actor, target=upstream, data={"ok": False, "error": error[:500]})
    return DiscoveryReport(upstream, False, error, [], 0, 0, 0, 0)


def _other_side(clash, viewer) -> str:
    """Describe the entry a name clashes with, without revealing another tenant's private catalog."""
    kind = clash._meta.verbose_name
    if viewer is None or type(clash).objects.visible_to(principal_for_user(viewer)).filter(pk=clash.pk).exists():
        return f"{kind} '{clash.original_name}' of upstream '{clash.upstream.name}'"
    return f"a {kind} of an upstream you cannot see"


def _exposed_names(model, upstream: Upstream, originals: list[str]) -> dict[str, str]:
    """original name → exposed name for an upstream's tools or prompts: kept where already known, derived for new
    ones, and refused when another upstream holds the name. Two queries, however many entries."""
    known = dict(model.objects.filter(upstream=upstream).values_list("original_name", "exposed_name"))
    names = {original: known.get(original) or exposed_name(upstream.slug, original) for original in originals}
    by_name = {name: original for original, name in names.items()}
    clash = model.objects.filter(exposed_name__in=by_name).exclude(upstream=upstream).select_related("upstream").first()
    if clash is not None:
        raise CatalogError(
            f"The {model._meta.verbose_name} name {clash.exposed_name!r} for '{by_name[clash.exposed_name]}' of "
            f"upstream '{upstream.name}' clashes with {_other_side(clash, upstream.owner)}."
        )
    return names


def _owned_defaults(upstream: Upstream) -> dict:
    return {"owner_id": upstream.owner_id, "team_id": upstream.team_id, "visibility": upstream.visibility}


@transaction.atomic
def _catalog_apply(upstream: Upstream, found: DiscoveredCatalog, actor) -> DiscoveryReport:
    now = timezone.now()
    vanished = 0

    def sync(model, key_field: str, entries: list[tuple[str, dict]]) -> None:
        nonlocal vanished
        existing = {getattr(row, key_field): row for row in model.objects.filter(upstream=upstream)}
        for key, fields in entries:
            row = existing.pop(key, None)
            if row is None:
                model.objects.create(upstream=upstream, **{key_field: key}, **fields, **_owned_defaults(upstream))
            else:
                for field, value in fields.items():
                    setattr(row, field, value)
                row.missing_since = None
                row.save()
        for row in existing.values():
            if row.missing_since is None:
                row.missing_since = now
                row.save(update_fields=["missing_since", "updated_at"])
                vanished += 1

    for tool in found.tools:
        if not is_valid_tool_name(tool["name"]):
            raise CatalogError(f"Upstream '{upstream.name}' advertises an invalid tool name {tool['name']!r}.")
    tool_names = _exposed_names(Tool, upstream, [tool["name"] for tool in found.tools])
    prompt_names = _exposed_names(Prompt, upstream, [prompt["name"] for prompt in found.prompts])
    tool_entries = []
    for tool in found.tools:
        original = tool["name"]
        tool_entries.append(
            (
                original,
                {
                    "exposed_name": tool_names[original],
                    "title": tool.get("title") or (tool.get("annotations") or {}).get("title") or "",
                    "description": tool.get("description") or "",
                    "input_schema": schema_text(tool.get("inputSchema") or {"type": "object"}),
                    "output_schema": schema_text(tool.get("outputSchema")),
                    "annotations": tool.get("annotations"),
                },
            )
        )
    prompt_entries = []
    for prompt in found.prompts:
        original = prompt["name"]
        prompt_entries.append(
            (
                original,
                {
                    "exposed_name": prompt_names[original],
                    "title": prompt.get("title") or "",
                    "description": prompt.get("description") or "",
                    "arguments": prompt.get("arguments") or [],
                },
            )
        )
    sync(Tool, "original_name", tool_entries)
    sync(Prompt, "original_name", prompt_entries)
    sync(
        Resource,
        "uri",
        [
            (
                resource["uri"],
                {
                    "name": resource.get("name") or resource["uri"],
                    "title": resource.get("title") or "",
                    "description": resource.get("description") or "",
                    "mime_type": resource.get("mimeType") or "",
                    "size": resource.get("size"),
                    "annotations": resource.get("annotations"),
                },
            )
            for resource in found.resources
        ],
    )
    sync(
        ResourceTemplate,
        "uri_template",
        [
            (
                template["uriTemplate"],
                {
                    "name": template.get("name") or template["uriTemplate"],
                    "title": template.get("title") or "",
                    "description": template.get("description") or "",
                    "mime_type": template.get("mimeType") or "",
                    "annotations": template.get("annotations"),
                },
            )
            for template in found.resource_templates
        ],
    )
    Upstream.objects.filter(pk=upstream.pk).update(
        discovery_status=Upstream.DiscoveryStatus.OK, discovery_error="", discovered_at=now
    )
    upstream.refresh_from_db()
    report = DiscoveryReport(
        upstream=upstream,
        ok=True,
        error="",
        tools=[fields["exposed_name"] for _, fields in tool_entries],
        resources=len(found.resources),
        resource_templates=len(found.resource_templates),
        prompts=len(found.prompts),
        vanished=vanished,
    )
    audit_record(
        "upstream.discover",
        actor=actor,
        target=upstream,
        data={"ok": True, "tools": len(report.tools), "prompts": report.prompts, "vanished": vanished},
    )
    catalog_version_bump()
    return report


@transaction.atomic
def catalog_entry_update(*, entry, actor, **changes):
    """Enable/disable, change visibility/team, or rename (tools and prompts) one discovered entry."""
    allowed = {"enabled", "visibility", "team"}
    if isinstance(entry, (Tool, Prompt)):
        allowed.add("exposed_name")
    unknown = set(changes) - allowed
    if unknown:
        raise CatalogError(f"Cannot change {', '.join(sorted(unknown))} on a {entry._meta.verbose_name}.")
    if "exposed_name" in changes:
        name = changes["exposed_name"]
        if not is_valid_tool_name(name) or len(name) > 64:
            raise CatalogError("A name is 1 to 64 characters of letters, digits, '_', '-' and '.'.")
        clash = type(entry).objects.filter(exposed_name=name).exclude(pk=entry.pk).select_related("upstream").first()
        if clash is not None:
            raise CatalogError(
                f"The name {name!r} for '{entry.original_name}' of upstream '{entry.upstream.name}' is taken by "
                f"{_other_side(clash, actor)}."
            )
    for field, value in changes.items():
        setattr(entry, field, value)
    _validate_sharing(entry.visibility, entry.team)
    entry.save()
    audit_record(f"{entry._meta.model_name}.update", actor=actor, target=entry, data={"fields": sorted(changes)})
    catalog_version_bump()
    return entry


def _compose(server: VirtualServer, composition: dict[EntryKind, Entries | None]) -> None:
    for kind, entries in composition.items():
        if entries is not None:
            composition_set(server, kind, entries)


@transaction.atomic
def server_create(
    *,
    owner,
    slug: str,
    name: str = "",
    description: str = "",
    tools: Entries | None = None,
    prompts: Entries | None = None,
    resources: Entries | None = None,
    team=None,
    visibility: str = Visibility.PRIVATE,
    enabled: bool = True,
    allow_anonymous: bool = False,
    capture_traffic: bool = False,
    actor=None,
) -> VirtualServer:
    if not slug or slugify(slug) != slug or len(slug) > 64:
        raise CatalogError(f"A server slug is 1 to 64 lowercase letters, digits and hyphens, not {slug!r}.")
    name = _display(name, "A server's name", 100)
    description = _display(description, "A server's description", 2000, multiline=True)
    _validate_sharing(visibility, team)
    if VirtualServer.objects.filter(slug=slug).exists():
        raise CatalogError(f"A virtual server with slug {slug!r} already exists.")
    server = VirtualServer.objects.create(
        owner=owner,
        slug=slug,
        name=name or slug,
        description=description,
        team=team,
        visibility=visibility,
        enabled=enabled,
        allow_anonymous=allow_anonymous,
        capture_traffic=capture_traffic,
    )
    _compose(server, {TOOLS: tools or [], PROMPTS: prompts or [], RESOURCES: resources or []})
    audit_record(
        "server.create",
        actor=actor or owner,
        target=server,
        data={
            "tools": [TOOLS.key(tool, alias) for tool, alias in tools or []],
            "prompts": [PROMPTS.key(prompt, alias) for prompt, alias in prompts or []],
            "resources": [RESOURCES.key(resource, alias) for resource, alias in resources or []],
            "visibility": visibility,
            "allow_anonymous": allow_anonymous,
            "capture_traffic": capture_traffic,
        },
    )
    catalog_version_bump()
    return server


@transaction.atomic
def server_update(
    *,
    server: VirtualServer,
    actor,
    tools: Entries | None = None,
    prompts: Entries | None = None,
    resources: Entries | None = None,
    **changes,
) -> VirtualServer:
    allowed = {"name", "description", "enabled", "visibility", "team", "allow_anonymous", "capture_traffic"}
    unknown = set(changes) - allowed
    if unknown:
        raise CatalogError(f"Cannot change {', '.join(sorted(unknown))} on a virtual server.")
    if "name" in changes:
        changes["name"] = _display(changes["name"], "A server's name", 100, required=True)
    if "description" in changes:
        changes["description"] = _display(changes["description"], "A server's description", 2000, multiline=True)
    for field, value in changes.items():
        setattr(server, field, value)
    _validate_sharing(server.visibility, server.team)
    server.save()
    composition = {TOOLS: tools, PROMPTS: prompts, RESOURCES: resources}
    _compose(server, composition)
    recomposed = sorted(kind.noun for kind, entries in composition.items() if entries is not None)
    audit_record("server.update", actor=actor, target=server, data={"fields": sorted(changes), "recomposed": recomposed})
    catalog_version_bump()
    return server


@transaction.atomic
def server_composition_saved(*, server: VirtualServer, actor) -> None:
    """The admin edits a server's entries inline (checked by composition_check first); record and publish it."""
    audit_record("server.update", actor=actor, target=server, data={"recomposed": "admin"})
    catalog_version_bump()


@transaction.atomic
def server_delete(*, server: VirtualServer, actor) -> None:
    audit_record("server.delete", actor=actor, target=server)
    server.delete()
    catalog_version_bump()



@dataclass
class ResealReport:
    resealed: int = 0
    current: int = 0
    unreadable: list[str] = dataclass_field(default_factory=list)


def upstream_secrets_reseal(*, batch_size: int = 200) -> ResealReport:
    """Re-encrypt every sealed upstream secret (upstream credentials and environments, users' upstream OAuth
    tokens) under the first key of GATEHOUSE_ENCRYPTION_KEYS.

    Batches of ``batch_size`` rows, each in its own transaction with the rows locked, so a long rotation neither
    holds one huge transaction nor races an edit. Values already under the active key are left alone (idempotent);
    a value no configured key opens is reported by row name and left unchanged.
    """
    report = ResealReport()
    for model, fields in ((Upstream, SEALED_FIELDS), (UpstreamConnection, CONNECTION_SEALED_FIELDS)):
        _reseal_rows(model, fields, report, batch_size)
    with transaction.atomic():
        audit_record(
            "encryption.rotate",
            data={"active_id": active_key_id(), "resealed": report.resealed, "current": report.current,
                  "unreadable": len(report.unreadable)},
        )
    return report


def _reseal_rows(model, fields, report: ResealReport, batch_size: int) -> None:
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(model.objects.select_for_update().filter(pk__gt=last_pk).order_by("pk")[:batch_size])
            if not batch:
                return
            for row in batch:
                changed: dict[str, str] = {}
                for field_name, purpose in fields:
                    try:
                        resealed = reseal(getattr(row, field_name), purpose=purpose)
                    except SecretDecryptionError:
                        report.unreadable.append(f"{row} ({field_name})")
                        continue
                    if resealed is None:
                        report.current += bool(getattr(row, field_name))
                    else:
                        changed[field_name] = resealed
                if changed:
                    # update(), not save(): a key rotation is not an edit of the row (updated_at unchanged).
                    model.objects.filter(pk=row.pk).update(**changed)
                    report.resealed += len(changed)
            last_pk = batch[-1].pk


@transaction.atomic
def rest_tool_define(
    *,
    upstream: Upstream,
    name: str,
    path: str,
    method: str = "GET",
    query: list[str] | None = None,
    headers: dict[str, str] | None = None,
    body_argument: str = "",
    input_schema: dict | None = None,
    title: str = "",
    description: str = "",
    timeout_seconds: int | None = None,
    actor=None,
) -> Tool:
    """Create or change the tool ``name`` of a REST upstream: exposed as ``<upstream slug>__<name>`` (catalog.naming),
    called as ``method`` on the upstream URL + ``path`` with arguments mapped to path, query, headers and body."""
    if upstream.transport != Upstream.Transport.REST:
        raise CatalogError(f"Upstream '{upstream.name}' is not a REST upstream.")
    _validate_rest_allowed()
    if not is_valid_tool_name(name):
        raise CatalogError("A tool name is 1 to 128 characters of letters, digits, '_', '-' and '.'.")
    try:
        definition = definition_clean(
            method=method, path=path, query=query, headers=headers, body_argument=body_argument,
            input_schema=input_schema, timeout_seconds=timeout_seconds,
        )
    except RestDefinitionError as exc:
        raise CatalogError(str(exc)) from None
    title = _display(title, "A tool's title", 255)
    description = _display(description, "A tool's description", 2000, multiline=True)
    exposed = _exposed_names(Tool, upstream, [name])[name]
    fields = {"exposed_name": exposed, "title": title, "description": description,
              "input_schema": definition.pop("input_schema"), "missing_since": None}
    tool, created = Tool.objects.update_or_create(
        upstream=upstream, original_name=name, defaults=fields, create_defaults={**fields, **_owned_defaults(upstream)}
    )
    RestEndpoint.objects.update_or_create(tool=tool, defaults=definition)
    audit_record(
        "tool.rest_define",
        actor=actor,
        target=tool,
        data={"created": created, "method": definition["method"], "path": definition["path"],
              "query": definition["query"], "headers": sorted(definition["headers"].values())},
    )
    catalog_version_bump()
    return tool


@transaction.atomic
def rest_upstream_check(*, upstream: Upstream, actor=None) -> DiscoveryReport:
    """The discovery of a REST upstream: every defined tool still passes the definition rules."""
    tools = list(Tool.objects.filter(upstream=upstream).select_related("rest_endpoint").order_by("exposed_name"))
    for tool in tools:
        endpoint = getattr(tool, "rest_endpoint", None)
        try:
            if endpoint is None:
                raise RestDefinitionError("it has no endpoint definition")
            definition_clean(
                method=endpoint.method, path=endpoint.path, query=endpoint.query, headers=endpoint.headers,
                body_argument=endpoint.body_argument, input_schema=schema_object(tool.input_schema),
                timeout_seconds=endpoint.timeout_seconds,
            )
        except RestDefinitionError as exc:
            return _discovery_failed(upstream, f"Tool '{tool.original_name}': {exc}", actor)
    Upstream.objects.filter(pk=upstream.pk).update(
        discovery_status=Upstream.DiscoveryStatus.OK, discovery_error="", discovered_at=timezone.now()
    )
    upstream.refresh_from_db()
    audit_record("upstream.discover", actor=actor, target=upstream, data={"ok": True, "tools": len(tools)})
    return DiscoveryReport(upstream, True, "", [tool.exposed_name for tool in tools], 0, 0, 0, 0)
