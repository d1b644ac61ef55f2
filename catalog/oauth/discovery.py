"""Talking to an upstream's authorization server: RFC 9728 protected-resource metadata, RFC 8414 metadata (OIDC
discovery as fallback), RFC 7591 dynamic client registration and the token endpoint. Network only, no database;
every request goes through the SSRF guard (config.egress). The metadata models and URL rules are the MCP SDK's."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.client.auth.utils import (
    build_oauth_authorization_server_metadata_discovery_urls,
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    issuers_match,
)
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url
from pydantic import ValidationError

from config.egress import EgressRefused, egress_client

TIMEOUT_SECONDS = 10.0
# Metadata and token answers are small; a larger body is not an authorization server talking.
MAX_BODY_BYTES = 256 * 1024


class OAuthFlowFailed(Exception):
    """The authorization server could not be found or refused; the message is safe to show the user (it names
    URLs and OAuth error codes, never a token or secret)."""


@dataclass(frozen=True)
class AuthorizationServer:
    metadata: OAuthMetadata
    # The RFC 8707 resource indicator for the upstream (its canonical URL, or what its metadata names).
    resource: str
    # What the upstream asks for (WWW-Authenticate scope, else its metadata's scopes_supported); None: nothing said.
    scope: str | None

    @property
    def issuer(self) -> str:
        return str(self.metadata.issuer)


def _client() -> httpx2.Client:
    return egress_client(timeout=TIMEOUT_SECONDS, follow_redirects=False)


def _get(client: httpx2.Client, url: str) -> httpx2.Response | None:
    try:
        return client.get(url, headers={"Accept": "application/json"})
    except (httpx2.HTTPError, EgressRefused) as exc:
        raise OAuthFlowFailed(f"Could not reach {url}: {exc}") from None


def _protected_resource(
    client: httpx2.Client, upstream_url: str
) -> tuple[ProtectedResourceMetadata | None, str | None]:
    """The upstream's RFC 9728 metadata: where its 401 points (WWW-Authenticate resource_metadata), else the
    path-based and root well-known URLs."""
    try:
        probe = client.post(
            upstream_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
        )
    except (httpx2.HTTPError, EgressRefused) as exc:
        raise OAuthFlowFailed(f"Could not reach the upstream: {exc}") from None
    challenged = probe.status_code in (401, 403)
    pointer = extract_resource_metadata_from_www_auth(probe) if challenged else None
    scope = extract_scope_from_www_auth(probe) if challenged else None
    for url in build_protected_resource_metadata_discovery_urls(pointer, upstream_url):
        response = _get(client, url)
        if response.status_code == 200 and len(response.content) <= MAX_BODY_BYTES:
            try:
                return ProtectedResourceMetadata.model_validate_json(response.content), scope
            except ValidationError:
                continue
    return None, scope


def _authorization_server_metadata(client: httpx2.Client, issuer: str) -> OAuthMetadata:
    for url in build_oauth_authorization_server_metadata_discovery_urls(issuer, issuer):
        response = _get(client, url)
        if response.status_code >= 500:
            break
        if response.status_code != 200 or len(response.content) > MAX_BODY_BYTES:
            continue
        try:
            metadata = OAuthMetadata.model_validate_json(response.content)
        except ValidationError:
            continue
        # RFC 8414 §3.3: the document must name the issuer it was fetched for (no mix-up with another server).
        if not issuers_match(str(metadata.issuer), issuer):
            raise OAuthFlowFailed(f"The metadata at {url} names issuer {metadata.issuer}, not {issuer}.")
        return metadata
    raise OAuthFlowFailed(f"No OAuth authorization server metadata found for {issuer}.")


def authorization_server_discover(*, upstream_url: str, issuer: str = "", resource: str = "") -> AuthorizationServer:
    """The authorization server that protects ``upstream_url``: the configured ``issuer``, else the first one the
    upstream's protected-resource metadata lists."""
    with _client() as client:
        protected, scope = _protected_resource(client, upstream_url)
        if not issuer:
            if protected is None:
                raise OAuthFlowFailed("The upstream publishes no OAuth protected-resource metadata; set its issuer.")
            issuer = str(protected.authorization_servers[0])
        metadata = _authorization_server_metadata(client, issuer)
    canonical = resource_url_from_server_url(upstream_url)
    if not resource:
        # The metadata's own resource name is used when it covers the upstream URL (RFC 9728 §3.3).
        named = str(protected.resource) if protected is not None else ""
        resource = named if named and check_resource_allowed(canonical, named) else canonical
    if scope is None and protected is not None and protected.scopes_supported:
        scope = " ".join(protected.scopes_supported)
    return AuthorizationServer(metadata=metadata, resource=resource, scope=scope)


def client_register(*, metadata: OAuthMetadata, redirect_uri: str, scope: str | None) -> OAuthClientInformationFull:
    """RFC 7591: register Gatehouse as a confidential web client of this authorization server."""
    if metadata.registration_endpoint is None:
        raise OAuthFlowFailed(f"The authorization server {metadata.issuer} offers no dynamic client registration.")
    request = OAuthClientMetadata(
        redirect_uris=[redirect_uri],
        token_endpoint_auth_method="client_secret_post",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        scope=scope,
        client_name="Gatehouse",
        application_type="web",
    )
    with _client() as client:
        try:
            response = client.post(
                str(metadata.registration_endpoint), json=request.model_dump(mode="json", exclude_none=True)
            )
        except (httpx2.HTTPError, EgressRefused) as exc:
            raise OAuthFlowFailed(f"Could not reach the registration endpoint: {exc}") from None
    if response.status_code not in (200, 201):
        refusal = f"{response.status_code}: {_error_code(response)}"
        raise OAuthFlowFailed(f"Dynamic client registration was refused ({refusal}).")
    try:
        return OAuthClientInformationFull.model_validate_json(response.content)
    except ValidationError:
        raise OAuthFlowFailed("The registration endpoint answered something that is no client registration.") from None


def _error_code(response: httpx2.Response) -> str:
    """The OAuth error code of a refusal (never its description verbatim: it could echo what was sent)."""
    try:
        body = response.json()
    except ValueError:
        return "no OAuth error"
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error.isascii() and len(error) < 64 else "no OAuth error"


class TokenRefused(OAuthFlowFailed):
    """The token endpoint answered with an OAuth error (``error`` holds its code, e.g. invalid_grant)."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


def token_request(
    *, token_endpoint: str, form: dict[str, str], client_id: str, client_secret: str = "",
    auth_methods: list[str] | None = None,
) -> OAuthToken:
    """POST a token request; the client authenticates with client_secret_post unless the server only takes
    client_secret_basic (or with none, as a public client, when there is no secret)."""
    form = {**form, "client_id": client_id}
    auth: Any = None
    if client_secret:
        if auth_methods and "client_secret_post" not in auth_methods and "client_secret_basic" in auth_methods:
            auth = httpx2.BasicAuth(client_id, client_secret)
        else:
            form["client_secret"] = client_secret
    with _client() as client:
        try:
            response = client.post(token_endpoint, data=form, auth=auth, headers={"Accept": "application/json"})
        except (httpx2.HTTPError, EgressRefused) as exc:
            raise OAuthFlowFailed(f"Could not reach the token endpoint: {exc}") from None
    if response.status_code != 200:
        error = _error_code(response)
        raise TokenRefused(f"The token endpoint refused the request ({response.status_code}: {error}).", error)
    try:
        return OAuthToken.model_validate_json(response.content)
    except ValidationError:
        raise OAuthFlowFailed("The token endpoint answered something that is not a bearer token.") from None


def client_credentials_token(*, upstream_url: str, oauth: dict[str, str]) -> tuple[str, float]:
    """Gatehouse's own access token for a client-credentials upstream, as (token, expiry as a Unix time)."""
    token_endpoint = oauth.get("token_endpoint", "")
    auth_methods = None
    resource = oauth.get("resource") or resource_url_from_server_url(upstream_url)
    if not token_endpoint:
        server = authorization_server_discover(
            upstream_url=upstream_url, issuer=oauth["issuer"], resource=oauth.get("resource", "")
        )
        token_endpoint = str(server.metadata.token_endpoint)
        auth_methods, resource = server.metadata.token_endpoint_auth_methods_supported, server.resource
    form = {"grant_type": "client_credentials", "resource": resource}
    if oauth.get("scope"):
        form["scope"] = oauth["scope"]
    token = token_request(
        token_endpoint=token_endpoint, form=form, client_id=oauth["client_id"],
        client_secret=oauth.get("client_secret", ""), auth_methods=auth_methods,
    )
    return token.access_token, time.time() + int(token.expires_in) if token.expires_in else float("inf")
