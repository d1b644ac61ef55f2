"""Writes of the upstream OAuth vault: a user connects an ``oauth_user`` upstream (authorization code with PKCE
S256, RFC 8707 resource, RFC 9207 iss check), Gatehouse stores the tokens sealed, refreshes them one at a time, and
the user disconnects. Network calls go through catalog.oauth.discovery (SSRF guarded)."""
from __future__ import annotations

import datetime
import secrets
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from mcp.client.auth import OAuthFlowError
from mcp.client.auth.oauth2 import PKCEParameters
from mcp.client.auth.utils import get_client_metadata_scopes, issuers_match, validate_authorization_response_iss
from mcp.shared.auth import OAuthMetadata, OAuthToken

from audit.services import audit_record
from catalog.credentials import (
    connection_tokens_open,
    connection_tokens_seal,
    oauth_settings_open,
    oauth_settings_seal,
)
from catalog.errors import CatalogError
from catalog.models import Upstream, UpstreamConnection
from catalog.oauth.discovery import (
    AuthorizationServer,
    OAuthFlowFailed,
    TokenRefused,
    authorization_server_discover,
    client_register,
    token_request,
)
from catalog.version import catalog_version_bump


@dataclass(frozen=True)
class PendingConnect:
    """What the callback needs to finish one connect: kept in the user's session under its ``state``."""

    state: str
    user_id: int
    upstream_id: int
    code_verifier: str
    redirect_uri: str
    issuer: str
    iss_required: bool
    token_endpoint: str
    token_auth_methods: list[str] | None
    client_id: str
    resource: str
    scope: str
    expires: float

    def to_session(self) -> dict:
        return asdict(self)

    @classmethod
    def from_session(cls, data: dict) -> PendingConnect:
        return cls(**data)


def _client_for(upstream: Upstream, server: AuthorizationServer, redirect_uri: str, scope: str) -> tuple[str, str]:
    """(client id, client secret) Gatehouse uses at this authorization server: the administrator's, else one
    registered earlier with the same issuer, else a new RFC 7591 registration when the issuer is allowed one."""
    oauth = oauth_settings_open(upstream.auth_type, upstream.credentials_sealed)
    if oauth.get("client_id"):
        return oauth["client_id"], oauth.get("client_secret", "")
    registered = oauth.get("registered") or {}
    if registered.get("client_id") and issuers_match(registered.get("issuer", ""), server.issuer):
        return registered["client_id"], registered.get("client_secret", "")
    allowed = settings.GATEHOUSE_UPSTREAM_OAUTH_DCR_ISSUERS
    if not any(issuers_match(server.issuer, issuer) for issuer in allowed):
        raise CatalogError(
            f"Upstream '{upstream.name}' has no OAuth client id, and dynamic client registration with "
            f"{server.issuer} is not allowed (GATEHOUSE_UPSTREAM_OAUTH_DCR_ISSUERS)."
        )
    client = client_register(metadata=server.metadata, redirect_uri=redirect_uri, scope=scope or None)
    oauth["registered"] = {
        "issuer": server.issuer, "client_id": client.client_id, "client_secret": client.client_secret or ""
    }
    with transaction.atomic():
        Upstream.objects.filter(pk=upstream.pk).update(credentials_sealed=oauth_settings_seal(oauth))
        audit_record(
            "upstream.oauth_register", target=upstream, data={"issuer": server.issuer, "client_id": client.client_id}
        )
    return client.client_id, client.client_secret or ""


def _scope(upstream: Upstream, server: AuthorizationServer) -> str:
    configured = oauth_settings_open(upstream.auth_type, upstream.credentials_sealed).get("scope")
    # offline_access is added when the server supports it, so a refresh token comes with the grant.
    chosen = get_client_metadata_scopes(
        configured or server.scope, None, server.metadata, client_grant_types=["authorization_code", "refresh_token"]
    )
    return chosen or ""


def upstream_connect_begin(*, user, upstream: Upstream, redirect_uri: str) -> tuple[str, PendingConnect]:
    """Discover the upstream's authorization server and build the authorization URL the user's browser goes to.
    Returns it with the pending state to keep in the user's session (single use, short-lived)."""
    if upstream.auth_type != Upstream.AuthType.OAUTH_USER:
        raise CatalogError(f"Upstream '{upstream.name}' does not use per-user OAuth.")
    oauth = oauth_settings_open(upstream.auth_type, upstream.credentials_sealed)
    try:
        server = authorization_server_discover(
            upstream_url=upstream.url, issuer=oauth.get("issuer", ""), resource=oauth.get("resource", "")
        )
        scope = _scope(upstream, server)
        client_id, _secret = _client_for(upstream, server, redirect_uri, scope)
    except OAuthFlowFailed as exc:
        raise CatalogError(str(exc)) from None
    metadata = server.metadata
    methods = metadata.code_challenge_methods_supported
    if methods is not None and "S256" not in methods:
        raise CatalogError(f"The authorization server {server.issuer} does not support PKCE S256.")
    pkce = PKCEParameters.generate()
    pending = PendingConnect(
        state=secrets.token_urlsafe(32),
        user_id=user.pk,
        upstream_id=upstream.pk,
        code_verifier=pkce.code_verifier,
        redirect_uri=redirect_uri,
        issuer=server.issuer,
        iss_required=bool(metadata.authorization_response_iss_parameter_supported),
        token_endpoint=str(metadata.token_endpoint),
        token_auth_methods=metadata.token_endpoint_auth_methods_supported,
        client_id=client_id,
        resource=server.resource,
        scope=scope,
        expires=time.time() + settings.GATEHOUSE_UPSTREAM_OAUTH_STATE_TTL_SECONDS,
    )
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": pending.state,
        "code_challenge": pkce.code_challenge,
        "code_challenge_method": "S256",
        "resource": server.resource,
    }
    if pending.scope:
        query["scope"] = pending.scope
        if "offline_access" in pending.scope.split():
            query["prompt"] = "consent"  # OpenID Connect servers issue offline access only with consent asked
    separator = "&" if "?" in str(metadata.authorization_endpoint) else "?"
    return f"{metadata.authorization_endpoint}{separator}{urlencode(query)}", pending


def _client_secret(upstream: Upstream, client_id: str) -> str:
    oauth = oauth_settings_open(upstream.auth_type, upstream.credentials_sealed)
    if oauth.get("client_id") == client_id:
        return oauth.get("client_secret", "")
    registered = oauth.get("registered") or {}
    return registered.get("client_secret", "") if registered.get("client_id") == client_id else ""


def _expires_at(token: OAuthToken) -> datetime.datetime | None:
    return timezone.now() + datetime.timedelta(seconds=int(token.expires_in)) if token.expires_in else None


def upstream_connect_finish(*, user, pending: PendingConnect, code: str, iss: str | None) -> UpstreamConnection:
    """The authorization server sent the browser back with ``code``: check the response came from the server the
    request went to (RFC 9207), exchange the code with the PKCE verifier and store the tokens sealed. The caller
    has already matched ``state`` against the user's session."""
    if pending.user_id != user.pk or pending.expires < time.time():
        raise CatalogError("This connection attempt has expired or belongs to another sign-in; start again.")
    upstream = Upstream.objects.filter(pk=pending.upstream_id, auth_type=Upstream.AuthType.OAUTH_USER).first()
    if upstream is None:
        raise CatalogError("The upstream of this connection attempt no longer uses per-user OAuth.")
    issuer_only = OAuthMetadata.model_construct(
        issuer=pending.issuer, authorization_response_iss_parameter_supported=pending.iss_required
    )
    try:
        validate_authorization_response_iss(iss, issuer_only)
    except OAuthFlowError:
        raise CatalogError(
            "The authorization response did not come from the expected authorization server (iss)."
        ) from None
    if not code:
        raise CatalogError("The authorization server sent no authorization code.")
    try:
        token = token_request(
            token_endpoint=pending.token_endpoint,
            form={"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
                  "code_verifier": pending.code_verifier, "resource": pending.resource},
            client_id=pending.client_id,
            client_secret=_client_secret(upstream, pending.client_id),
            auth_methods=pending.token_auth_methods,
        )
    except OAuthFlowFailed as exc:
        raise CatalogError(str(exc)) from None
    return _connection_store(user, upstream, pending, token)


@transaction.atomic
def _connection_store(user, upstream: Upstream, pending: PendingConnect, token: OAuthToken) -> UpstreamConnection:
    # A new row (new id) rather than an update: data-plane processes key cached tokens by the connection's id, so a
    # reconnect (perhaps as another upstream account) never serves the previous grant's token.
    UpstreamConnection.objects.filter(user=user, upstream=upstream).delete()
    connection = UpstreamConnection.objects.create(
        user=user,
        upstream=upstream,
        tokens_sealed=connection_tokens_seal(token.access_token, token.refresh_token),
        expires_at=_expires_at(token),
        scope=(token.scope or pending.scope)[:1024],
        issuer=pending.issuer,
        token_endpoint=pending.token_endpoint,
        client_id=pending.client_id,
        resource=pending.resource,
    )
    audit_record(
        "upstream.connect", actor=user, target=upstream,
        data={"issuer": pending.issuer, "scope": connection.scope, "refreshable": bool(token.refresh_token)},
    )
    catalog_version_bump()
    return connection


@transaction.atomic
def upstream_connection_delete(*, connection: UpstreamConnection, actor) -> None:
    """The user disconnects: Gatehouse forgets the tokens (every process stops using them at the next catalog
    version)."""
    audit_record("upstream.disconnect", actor=actor, target=connection.upstream, data={"user": connection.user.email})
    connection.delete()
    catalog_version_bump()


def upstream_connection_refresh(*, connection_id: int, stale_access_token: str) -> tuple[str, float] | None:
    """A fresh access token for the connection, as (token, expiry as a Unix time; inf when unknown), or None when
    the user must connect again. One refresh at a time per connection, across processes: the row is locked, and a
    token another process refreshed meanwhile is taken as it is."""
    with transaction.atomic():
        connection = (
            UpstreamConnection.objects.select_for_update().select_related("upstream").filter(pk=connection_id).first()
        )
        if connection is None:
            return None
        access_token, refresh_token = connection_tokens_open(connection.tokens_sealed)
        expiry = connection.expires_at.timestamp() if connection.expires_at else float("inf")
        margin = settings.GATEHOUSE_UPSTREAM_OAUTH_REFRESH_MARGIN_SECONDS
        if access_token != stale_access_token and expiry - margin > time.time():
            return access_token, expiry
        if not refresh_token:
            return _connection_lost(connection, "no refresh token")
        try:
            token = token_request(
                token_endpoint=connection.token_endpoint,
                form={"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": connection.resource},
                client_id=connection.client_id,
                client_secret=_client_secret(connection.upstream, connection.client_id),
            )
        except TokenRefused as exc:
            if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                return _connection_lost(connection, exc.error)
            raise
        connection.tokens_sealed = connection_tokens_seal(token.access_token, token.refresh_token or refresh_token)
        connection.expires_at = _expires_at(token)
        connection.refreshed_at = timezone.now()
        connection.save(update_fields=["tokens_sealed", "expires_at", "refreshed_at"])
        return token.access_token, connection.expires_at.timestamp() if connection.expires_at else float("inf")


def _connection_lost(connection: UpstreamConnection, reason: str) -> None:
    """The authorization server no longer honours the grant: forget it, so the user is asked to connect again."""
    audit_record("upstream.connection_lost", target=connection.upstream,
                 data={"user": connection.user.email, "reason": reason})
    connection.delete()
    catalog_version_bump()
    return None
