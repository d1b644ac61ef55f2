"""Changing catalog entries: discovered ones, and the tools an administrator defines on a REST upstream."""
from __future__ import annotations

from django.db import transaction

from audit.services import audit_record
from catalog.errors import CatalogError
from catalog.models import Prompt, RestEndpoint, Tool, Upstream
from catalog.naming import is_valid_tool_name
from catalog.rest import RestDefinitionError, definition_clean
from catalog.services.rules import (
    clash_described,
    names_claim,
    owned_defaults,
    rest_allowed_check,
    sharing_check,
    text_clean,
)
from catalog.version import catalog_version_bump


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
                f"{clash_described(clash, actor)}."
            )
    for field, value in changes.items():
        setattr(entry, field, value)
    sharing_check(entry.visibility, entry.team)
    entry.save()
    audit_record(f"{entry._meta.model_name}.update", actor=actor, target=entry, data={"fields": sorted(changes)})
    catalog_version_bump()
    return entry


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
    rest_allowed_check()
    if not is_valid_tool_name(name):
        raise CatalogError("A tool name is 1 to 128 characters of letters, digits, '_', '-' and '.'.")
    try:
        definition = definition_clean(
            method=method, path=path, query=query, headers=headers, body_argument=body_argument,
            input_schema=input_schema, timeout_seconds=timeout_seconds,
        )
    except RestDefinitionError as exc:
        raise CatalogError(str(exc)) from None
    title = text_clean(title, "A tool's title", 255)
    description = text_clean(description, "A tool's description", 2000, multiline=True)
    exposed = names_claim(Tool, upstream, [name])[name]
    fields = {"exposed_name": exposed, "title": title, "description": description,
              "input_schema": definition.pop("input_schema"), "missing_since": None}
    tool, created = Tool.objects.update_or_create(
        upstream=upstream, original_name=name, defaults=fields, create_defaults={**fields, **owned_defaults(upstream)}
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
