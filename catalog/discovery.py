"""Reading what an upstream offers, with the official SDK client. Network only: no database here."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from catalog.snapshot import UpstreamTarget

MAX_PAGES = 1000


@dataclass
class DiscoveredCatalog:
    tools: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    resource_templates: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)


def _as_data(item) -> dict[str, Any]:
    data = item.model_dump(by_alias=True, exclude_none=True, mode="json")
    # Schemas are kept exactly as sent: exclude_none must not strip a meaningful null inside them.
    for attribute, key in (("input_schema", "inputSchema"), ("output_schema", "outputSchema")):
        if getattr(item, attribute, None) is not None:
            data[key] = getattr(item, attribute)
    return data


async def _every_page(fetch, attribute: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await fetch(cursor=cursor)
        items.extend(_as_data(item) for item in getattr(page, attribute))
        cursor = page.next_cursor
        if not cursor:
            return items
    raise RuntimeError(f"The upstream returned more than {MAX_PAGES} pages of {attribute}.")


async def discover(target: UpstreamTarget) -> DiscoveredCatalog:
    """Every page of tools, resources, resource templates and prompts the upstream advertises."""
    from proxy.upstream.client import upstream_client
    from proxy.upstream.oauth import upstream_authorization_ready

    # An OAuth upstream: a token first, or a clear reason (the owner has not connected their account yet).
    await upstream_authorization_ready(target)
    found = DiscoveredCatalog()
    async with upstream_client(target) as client:
        capabilities = client.server_capabilities
        if capabilities.tools is not None:
            found.tools = await _every_page(client.list_tools, "tools")
        if capabilities.resources is not None:
            found.resources = await _every_page(client.list_resources, "resources")
            found.resource_templates = await _every_page(client.list_resource_templates, "resource_templates")
        if capabilities.prompts is not None:
            found.prompts = await _every_page(client.list_prompts, "prompts")
    return found


def schema_text(schema: dict[str, Any] | None) -> str:
    """The schema as JSON text, in the upstream's key order."""
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":")) if schema is not None else ""
