from __future__ import annotations

import json

from catalog.composition import TOOLS
from catalog.credentials import credentials_headers
from catalog.models import ServerTool, Tool, Upstream, VirtualServer
from catalog.snapshot import CatalogSnapshot, ToolRoute, UpstreamTarget
from teams import permissions
from teams.principal import Principal

AGGREGATE_SLUG = ""


def upstream_target(upstream: Upstream) -> UpstreamTarget:
    return UpstreamTarget(
        id=upstream.pk,
        slug=upstream.slug,
        name=upstream.name,
        url=upstream.url,
        transport=upstream.transport,
        headers=credentials_headers(upstream.auth_type, upstream.credentials_sealed),
        timeout_seconds=float(upstream.timeout_seconds),
    )


def tool_listing(tool: Tool, name: str) -> dict:
    entry: dict = {"name": name}
    if tool.title:
        entry["title"] = tool.title
    if tool.description:
        entry["description"] = tool.description
    entry["inputSchema"] = json.loads(tool.input_schema)
    if tool.output_schema:
        entry["outputSchema"] = json.loads(tool.output_schema)
    if tool.annotations:
        entry["annotations"] = tool.annotations
    return entry


def _usable_tools(principal: Principal):
    return (
        Tool.objects.visible_to(principal, permissions.USE)
        .filter(enabled=True, missing_since__isnull=True, upstream__enabled=True)
        .select_related("upstream")
    )


def server_get_usable(*, principal: Principal, slug: str) -> VirtualServer | None:
    """The virtual server ``slug`` if the principal may use it; forbidden and missing are both None."""
    server = VirtualServer.objects.visible_to(principal, permissions.USE).filter(slug=slug, enabled=True).first()
    if server is None or not principal.may_reach_server(server.pk):
        return None
    return server


def snapshot_build(*, principal: Principal, server_slug: str) -> CatalogSnapshot | None:
    """Everything the data plane needs for this principal on this server (``""`` is the aggregate endpoint)."""
    targets: dict[int, UpstreamTarget] = {}

    def target(upstream: Upstream) -> UpstreamTarget:
        if upstream.pk not in targets:
            targets[upstream.pk] = upstream_target(upstream)
        return targets[upstream.pk]

    if server_slug == AGGREGATE_SLUG:
        named = [(tool.exposed_name, tool) for tool in _usable_tools(principal)]
        server_id, server_name = None, "Gatehouse"
    else:
        server = server_get_usable(principal=principal, slug=server_slug)
        if server is None:
            return None
        usable_ids = _usable_tools(principal).values("pk")
        entries = (
            ServerTool.objects.filter(server=server, tool__in=usable_ids)
            .select_related("tool__upstream")
            .order_by("alias", "tool__exposed_name")
        )
        named = sorted(((TOOLS.key(entry.tool, entry.alias), entry.tool) for entry in entries), key=lambda pair: pair[0])
        server_id, server_name = server.pk, server.name
    routes = {
        name: ToolRoute(name=name, original_name=tool.original_name, upstream=target(tool.upstream))
        for name, tool in named
    }
    return CatalogSnapshot(
        server_id=server_id,
        server_slug=server_slug,
        server_name=server_name,
        tools=routes,
        tool_listing=tuple(tool_listing(tool, name) for name, tool in named),
    )
