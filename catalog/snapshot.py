"""What the data plane needs to serve one (principal, server): built from the database once, then kept in memory."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from mcp.shared.uri_template import UriTemplate


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Where and how to reach an upstream. Holds decrypted credentials: keep it in memory, never log it."""

    id: int
    slug: str
    name: str
    url: str
    transport: str
    headers: tuple[tuple[str, str], ...] = field(repr=False)
    timeout_seconds: float
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # "pooled" or "client_session" (catalog.models.Upstream.SessionBinding).
    session_binding: str = "pooled"
    # Client request headers this upstream accepts (catalog.passthrough); empty: none.
    passthrough: tuple[str, ...] = ()
    # True on a per-call copy whose headers include a client's forwarded ones (proxy.upstream.passthrough).
    caller_headers: bool = False
    # Record the MCP messages of calls routed here (audit.capture).
    capture_traffic: bool = False
    auth_type: str = "none"
    # oauth_user (catalog.oauth): whose connection authorises the calls (None: nobody's, e.g. an anonymous caller)
    # and that connection's id (None: the user has not connected yet). The tokens themselves stay out of the
    # snapshot: they are refreshed while it lives (proxy.upstream.oauth).
    oauth_user_id: int | None = None
    oauth_connection_id: int | None = None
    # oauth_client_credentials: the decrypted client settings (token endpoint, issuer, client id, secret, scope,
    # resource).
    oauth_client: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    # pool_key, computed on first use (it is asked for several times per call).
    _pool_key: tuple[int, str, str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bound_to_client_session(self) -> bool:
        return self.session_binding == "client_session"

    @property
    def per_user(self) -> bool:
        return self.auth_type == "oauth_user"

    @property
    def pool_key(self) -> tuple[int, str, str, str]:
        """One pooled session per (upstream, credential, command); any change opens a new one. An upstream whose
        users each connect their own account gets one per user: its session never serves two users."""
        if self._pool_key is not None:
            return self._pool_key
        fingerprint = hashlib.sha256(
            repr((self.headers, self.command, self.args, self.env, self.auth_type, self.oauth_client)).encode()
        ).hexdigest()[:16]
        if self.per_user:
            fingerprint = f"{fingerprint}:user:{self.oauth_user_id}:{self.oauth_connection_id}"
        key = (self.id, self.url, self.transport, fingerprint)
        object.__setattr__(self, "_pool_key", key)  # frozen: set once, as if computed in __init__
        return key


@dataclass(frozen=True, slots=True)
class RestEndpointSpec:
    """One REST tool as the data plane needs it (catalog.models.RestEndpoint plus the tool's input
    schema); built by catalog.selectors, sent by proxy.upstream.rest."""

    method: str
    path: str
    query: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # (argument, header name)
    body_argument: str
    input_schema: str  # JSON text
    timeout_seconds: float | None


@dataclass(frozen=True, slots=True)
class Route:
    """Where one catalog entry lives: ``name`` is what clients use, ``original_name`` what the upstream uses
    (for resources and templates both are the URI or URI template)."""

    name: str
    original_name: str
    upstream: UpstreamTarget
    # A tool of a REST upstream: how its arguments become an HTTP request.
    rest: RestEndpointSpec | None = None


@dataclass(frozen=True, slots=True)
class TemplateRoute:
    template: UriTemplate
    route: Route


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    server_id: int | None
    server_slug: str
    server_name: str
    tools: dict[str, Route]
    tool_listing: tuple[dict[str, Any], ...]
    prompts: dict[str, Route] = field(default_factory=dict)
    prompt_listing: tuple[dict[str, Any], ...] = ()
    resources: dict[str, Route] = field(default_factory=dict)
    resource_listing: tuple[dict[str, Any], ...] = ()
    templates: tuple[TemplateRoute, ...] = ()
    template_listing: tuple[dict[str, Any], ...] = ()
    # Traffic capture (audit.capture): the server records everything; ``capture_any`` is the one flag the data plane
    # checks per request, true when the server or any upstream behind it records.
    capture_traffic: bool = False
    capture_any: bool = False

    def resource_route(self, uri: str) -> Route | None:
        """The route for a concrete URI: a listed resource, else the first template that matches it."""
        route = self.resources.get(uri)
        if route is not None:
            return route
        for candidate in self.templates:
            if candidate.template.match(uri) is not None:
                return Route(name=uri, original_name=uri, upstream=candidate.route.upstream)
        return None

    def template_route(self, uri_template: str) -> Route | None:
        return next((t.route for t in self.templates if t.route.name == uri_template), None)
