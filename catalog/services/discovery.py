"""Bringing the catalog in line with what an upstream offers."""
from __future__ import annotations

from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from catalog.discovery import DiscoveredCatalog, discover, schema_text
from catalog.errors import CatalogError
from catalog.models import Prompt, Resource, ResourceTemplate, Tool, Upstream
from catalog.naming import is_valid_tool_name
from catalog.rest import RestDefinitionError, definition_clean, schema_object
from catalog.selectors import upstream_target
from catalog.services.rules import names_claim, owned_defaults
from catalog.version import catalog_version_bump


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


def upstream_discover(*, upstream: Upstream, actor=None) -> DiscoveryReport:
    """Ask the upstream what it offers and bring the catalog in line. Network first, then one transaction.
    A REST upstream offers what its administrator defined: its definitions are checked again instead."""
    if upstream.transport == Upstream.Transport.REST:
        return rest_upstream_check(upstream=upstream, actor=actor)
    try:
        found = async_to_sync(discover)(upstream_target(upstream))
    except Exception as exc:  # noqa: BLE001 - any failure is recorded on the upstream and reported
        return discovery_failed(upstream, _reason(exc), actor)
    try:
        return _catalog_apply(upstream, found, actor)
    except CatalogError as exc:
        return discovery_failed(upstream, str(exc), actor)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@transaction.atomic
def discovery_failed(upstream: Upstream, error: str, actor) -> DiscoveryReport:
    Upstream.objects.filter(pk=upstream.pk).update(
        discovery_status=Upstream.DiscoveryStatus.FAILED, discovery_error=error[:2000]
    )
    upstream.refresh_from_db()
    audit_record("upstream.discover", actor=actor, target=upstream, data={"ok": False, "error": error[:500]})
    return DiscoveryReport(upstream, False, error, [], 0, 0, 0, 0)


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
                model.objects.create(upstream=upstream, **{key_field: key}, **fields, **owned_defaults(upstream))
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
    tool_names = names_claim(Tool, upstream, [tool["name"] for tool in found.tools])
    prompt_names = names_claim(Prompt, upstream, [prompt["name"] for prompt in found.prompts])
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
            return discovery_failed(upstream, f"Tool '{tool.original_name}': {exc}", actor)
    Upstream.objects.filter(pk=upstream.pk).update(
        discovery_status=Upstream.DiscoveryStatus.OK, discovery_error="", discovered_at=timezone.now()
    )
    upstream.refresh_from_db()
    audit_record("upstream.discover", actor=actor, target=upstream, data={"ok": True, "tools": len(tools)})
    return DiscoveryReport(upstream, True, "", [tool.exposed_name for tool in tools], 0, 0, 0, 0)
