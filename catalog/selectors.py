from __future__ import annotations

import dataclasses
import json
import logging

from django.conf import settings
from mcp.shared.uri_template import InvalidUriTemplate, UriTemplate

from catalog.composition import PROMPTS, RESOURCES, TOOLS, EntryKind
from catalog.credentials import credentials_headers, env_open, oauth_settings_open
from catalog.models import (
    Prompt,
    Resource,
    ResourceTemplate,
    RestEndpoint,
    Tool,
    Upstream,
    UpstreamConnection,
    VirtualServer,
)
from catalog.snapshot import CatalogSnapshot, RestEndpointSpec, Route, TemplateRoute, UpstreamTarget
from teams import permissions
from teams.principal import Principal
from teams.selectors import principal_for_user

logger = logging.getLogger(__name__)

AGGREGATE_SLUG = ""


# Who an ``oauth_user`` upstream acts for when no caller is named: discovery and health probes use its owner's
# connection (the owner connects once after registering it).
OWNER = "owner"


def upstream_target(
    upstream: Upstream, *, user_id: int | None | str = OWNER, connections: dict[int, int] | None = None
) -> UpstreamTarget:
    """How the data plane reaches ``upstream``. For an ``oauth_user`` upstream, on behalf of ``user_id`` (None:
    nobody, so every call is refused); ``connections`` maps upstream id → that user's connection id when the
    caller already has them."""
    oauth: dict = {}
    if upstream.auth_type == Upstream.AuthType.OAUTH_USER:
        oauth["oauth_user_id"] = upstream.owner_id if user_id == OWNER else user_id
        if oauth["oauth_user_id"] is not None:
            if connections is None:
                connections = dict(
                    UpstreamConnection.objects.filter(user_id=oauth["oauth_user_id"], upstream=upstream)
                    .values_list("upstream_id", "pk")
                )
            oauth["oauth_connection_id"] = connections.get(upstream.pk)
    elif upstream.auth_type == Upstream.AuthType.OAUTH_CLIENT_CREDENTIALS:
        client = oauth_settings_open(upstream.auth_type, upstream.credentials_sealed)
        oauth["oauth_client"] = tuple(sorted(client.items()))
    return UpstreamTarget(
        id=upstream.pk,
        slug=upstream.slug,
        name=upstream.name,
        url=upstream.url,
        transport=upstream.transport,
        headers=credentials_headers(upstream.auth_type, upstream.credentials_sealed),
        timeout_seconds=float(upstream.timeout_seconds),
        command=upstream.command,
        args=tuple(upstream.args or ()),
        env=env_open(upstream.env_sealed),
        session_binding=upstream.session_binding,
        passthrough=tuple(upstream.header_passthrough or ()),
        capture_traffic=upstream.capture_traffic,
        auth_type=upstream.auth_type,
        **oauth,
    )


def rest_endpoint_spec(endpoint: RestEndpoint, input_schema: str) -> RestEndpointSpec:
    return RestEndpointSpec(
        method=endpoint.method,
        path=endpoint.path,
        query=tuple(endpoint.query or ()),
        headers=tuple((endpoint.headers or {}).items()),
        body_argument=endpoint.body_argument,
        input_schema=input_schema,
        timeout_seconds=float(endpoint.timeout_seconds) if endpoint.timeout_seconds else None,
    )


def _rest_specs(tools: list[tuple[str, object, str]]) -> dict[int, RestEndpointSpec]:
    """The endpoint of every REST tool among ``tools`` (one query, and none when there are no REST tools)."""
    schemas = {tool.pk: tool.input_schema for _, tool, _ in tools if tool.upstream.transport == Upstream.Transport.REST}
    if not schemas:
        return {}
    return {
        endpoint.tool_id: rest_endpoint_spec(endpoint, schemas[endpoint.tool_id])
        for endpoint in RestEndpoint.objects.filter(tool_id__in=schemas)
    }


def _described(entry: dict, item) -> dict:
    if item.title:
        entry["title"] = item.title
    if item.description:
        entry["description"] = item.description
    return entry


def tool_listing(tool: Tool, name: str) -> dict:
    entry = _described({"name": name}, tool)
    entry["inputSchema"] = json.loads(tool.input_schema)
    if tool.output_schema:
        entry["outputSchema"] = json.loads(tool.output_schema)
    if tool.annotations:
        entry["annotations"] = tool.annotations
    return entry


def prompt_listing(prompt: Prompt, name: str) -> dict:
    entry = _described({"name": name}, prompt)
    if prompt.arguments:
        entry["arguments"] = prompt.arguments
    return entry


def resource_listing(resource: Resource, alias: str) -> dict:
    entry = _described({"uri": resource.uri, "name": alias or resource.name}, resource)
    if resource.mime_type:
        entry["mimeType"] = resource.mime_type
    if resource.size is not None:
        entry["size"] = resource.size
    if resource.annotations:
        entry["annotations"] = resource.annotations
    return entry


def template_listing(template: ResourceTemplate) -> dict:
    entry = _described({"uriTemplate": template.uri_template, "name": template.name}, template)
    if template.mime_type:
        entry["mimeType"] = template.mime_type
    if template.annotations:
        entry["annotations"] = template.annotations
    return entry


def _usable(model, principal: Principal):
    return (
        model.objects.visible_to(principal, permissions.USE)
        .filter(enabled=True, missing_since__isnull=True, upstream__enabled=True)
        .select_related("upstream")
    )


def server_get_usable(*, principal: Principal, slug: str) -> VirtualServer | None:
    """The virtual server ``slug`` if the principal may use it; forbidden and missing are both None."""
    server = VirtualServer.objects.visible_to(principal, permissions.USE).filter(slug=slug, enabled=True).first()
    if server is None or not principal.may_reach_server(server.pk):
        return None
    return server


def server_anonymous_principal(*, slug: str) -> Principal | None:
    """Who a client without a token acts as on ``slug``: None unless the server allows anonymous callers; then its
    owner's view of that one server."""
    server = (
        VirtualServer.objects.filter(slug=slug, enabled=True, allow_anonymous=True).select_related("owner").first()
    )
    if server is None or not server.owner.is_active:
        return None
    owner = principal_for_user(server.owner)
    return dataclasses.replace(owner, server_ids=frozenset({server.pk}), anonymous=True)


def _named(principal: Principal, server: VirtualServer | None, kind: EntryKind) -> list[tuple[str, object, str]]:
    """(name on the server, entry, alias), ordered by name; on the aggregate endpoint the first of a name wins."""
    if server is None:
        rows = [(kind.key(entry, ""), entry, "") for entry in _usable(kind.model, principal).order_by("upstream__slug")]
    else:
        usable = _usable(kind.model, principal).values("pk")
        through = kind.through.objects.filter(server=server, **{f"{kind.noun}__in": usable})
        rows = [
            (kind.key(getattr(row, kind.noun), row.alias), getattr(row, kind.noun), row.alias)
            for row in through.select_related(f"{kind.noun}__upstream")
        ]
    named: dict[str, tuple[str, object, str]] = {}
    for name, entry, alias in rows:
        if name in named:
            logger.warning("Two %ss answer to %r on %s; serving the first.", kind.noun, name, server or "/mcp")
            continue
        named[name] = (name, entry, alias)
    return sorted(named.values(), key=lambda row: row[0])


def snapshot_build(*, principal: Principal, server_slug: str) -> CatalogSnapshot | None:
    """Everything the data plane needs for this principal on this server (``""`` is the aggregate endpoint)."""
    server = None
    if server_slug != AGGREGATE_SLUG:
        server = server_get_usable(principal=principal, slug=server_slug)
        if server is None:
            return None
    targets: dict[int, UpstreamTarget] = {}
    connections: dict[int, int] | None = None
    # An anonymous caller acts with the server owner's view, never with the owner's upstream OAuth connections.
    acting_user = None if principal.anonymous else principal.user_id

    def route(name: str, original: str, upstream: Upstream, rest: RestEndpointSpec | None = None) -> Route:
        nonlocal connections
        if upstream.pk not in targets:
            if upstream.auth_type == Upstream.AuthType.OAUTH_USER and connections is None and acting_user is not None:
                connections = dict(
                    UpstreamConnection.objects.filter(user_id=acting_user).values_list("upstream_id", "pk")
                )
            targets[upstream.pk] = upstream_target(upstream, user_id=acting_user, connections=connections or {})
        return Route(name=name, original_name=original, upstream=targets[upstream.pk], rest=rest)

    tools = _named(principal, server, TOOLS)
    rest_specs = _rest_specs(tools) if settings.GATEHOUSE_REST_TOOLS else {}
    # A REST tool is served only while REST tools are switched on and its endpoint definition exists.
    tools = [row for row in tools if row[1].upstream.transport != Upstream.Transport.REST or row[1].pk in rest_specs]
    prompts = _named(principal, server, PROMPTS)
    resources = _named(principal, server, RESOURCES)
    templates = _usable(ResourceTemplate, principal).order_by("upstream__slug", "uri_template")
    if server is not None:
        # Templates follow their upstream: a server offers those of the upstreams it draws anything from.
        contributing = {entry.upstream_id for rows in (tools, prompts, resources) for _, entry, _ in rows}
        templates = templates.filter(upstream_id__in=contributing)
    template_routes = []
    for template in templates:
        try:
            parsed = UriTemplate.parse(template.uri_template)
        except InvalidUriTemplate:
            logger.warning("Skipping invalid URI template %r of %s.", template.uri_template, template.upstream)
            continue
        template_routes.append((template, TemplateRoute(parsed, route(template.uri_template, template.uri_template, template.upstream))))
    tool_routes = {
        name: route(name, tool.original_name, tool.upstream, rest_specs.get(tool.pk)) for name, tool, _ in tools
    }
    prompt_routes = {name: route(name, prompt.original_name, prompt.upstream) for name, prompt, _ in prompts}
    resource_routes = {uri: route(uri, uri, resource.upstream) for uri, resource, _ in resources}
    capture_server = server is not None and server.capture_traffic
    return CatalogSnapshot(
        server_id=server.pk if server else None,
        server_slug=server_slug,
        server_name=server.name if server else "Gatehouse",
        tools=tool_routes,
        tool_listing=tuple(tool_listing(tool, name) for name, tool, _ in tools),
        prompts=prompt_routes,
        prompt_listing=tuple(prompt_listing(prompt, name) for name, prompt, _ in prompts),
        resources=resource_routes,
        resource_listing=tuple(resource_listing(resource, alias) for _, resource, alias in resources),
        templates=tuple(template_route for _, template_route in template_routes),
        template_listing=tuple(template_listing(template) for template, _ in template_routes),
        capture_traffic=capture_server,
        # Every upstream this snapshot can route to is in ``targets`` by now.
        capture_any=capture_server or any(target.capture_traffic for target in targets.values()),
    )
