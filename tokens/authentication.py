"""One authenticator for the REST API and the MCP endpoints: ``Authorization: Bearer gth_…`` or a JWT.

``credential_check`` turns a token string into a ``Credential`` (the Principal plus the per-request scope) or
refuses with a reason. The data plane remembers credentials per process, keyed by a hash of the token and the
catalog version (which every revocation bumps), and applies the per-request scope (IP, time window, quota) on
every request; DRF does the same through ``BearerTokenAuthentication``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import authentication, exceptions

from config.memo import BoundedMemo
from teams import roles
from teams.principal import Principal
from teams.selectors import principal_for_credential, principal_for_user
from tokens.client import Client, client_from_request
from tokens.jwt import JwtError, jwt_verify, looks_like_jwt
from tokens.models import ApiToken, RevokedJti
from tokens.oauth_issuer import oauth_issued, oauth_permissions, oauth_user_identity, oauth_verify
from tokens.scopes import UNSCOPED, TokenScope, scope_from_token, scope_refusal
from tokens.secrets import token_lookup, token_matches

LAST_USED_RESOLUTION = timedelta(minutes=1)
INVALID = "Invalid, expired or revoked token."


class Refused(Exception):
    """A credential that may not be used; ``reason`` is safe to show to the caller."""

    def __init__(self, reason: str, *, token_id: int | None = None, jti: str = "", user_id: int | None = None):
        super().__init__(reason)
        self.reason, self.token_id, self.jti, self.user_id = reason, token_id, jti, user_id


@dataclass(frozen=True, slots=True)
class Credential:
    principal: Principal
    scope: TokenScope
    expires_at: float | None

    @property
    def token_id(self) -> int | None:
        return self.principal.token_id


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _opaque_credential(raw: str) -> Credential:
    lookup = token_lookup(raw)
    if lookup is None:
        raise Refused(INVALID)
    token = ApiToken.objects.select_related("user").filter(lookup=lookup).first()
    if token is None or not token_matches(raw, pepper_id=token.pepper_id, digest=token.digest):
        raise Refused(INVALID)
    if not token.is_active or not token.user.is_active:
        raise Refused(INVALID, token_id=token.pk, user_id=token.user_id)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    server_ids = frozenset(token.servers.values_list("pk", flat=True)) if token.restricted_to_servers else None
    principal = principal_for_credential(
        token.user,
        token_id=token.pk,
        server_ids=server_ids,
        permission_scope=frozenset(token.permissions) if token.permissions is not None else None,
        team_claim=[token.team_id] if token.team_id is not None else token.teams,
    )
    expires = token.expires_at.timestamp() if token.expires_at is not None else None
    return Credential(principal, scope_from_token(token), expires)


def _jti_revoked(jti: str) -> bool:
    return RevokedJti.objects.filter(jti=jti).exists()


def _jwt_credential(raw: str) -> Credential:
    from catalog.models import VirtualServer

    try:
        claims = jwt_verify(raw)
    except JwtError as exc:
        raise Refused(str(exc)) from None
    jti = str(claims.get("jti", ""))[:64]
    if jti and _jti_revoked(jti):
        raise Refused("The JWT has been revoked.", jti=jti)
    try:
        user = get_user_model().objects.filter(pk=int(claims["sub"]), is_active=True).first()
        servers = claims.get("servers")
        team_claim = claims.get("teams")
        permission_claim = claims.get("permissions")
        if servers is not None and not (isinstance(servers, list) and all(isinstance(s, str) for s in servers)):
            raise ValueError("servers")
        if team_claim is not None and not isinstance(team_claim, list):
            raise ValueError("teams")
        permission_scope = roles.permissions_check(permission_claim) if permission_claim is not None else None
        team_claim = None if team_claim is None else [int(team_id) for team_id in team_claim]
    except (ValueError, TypeError, roles.UnknownPermission):
        raise Refused("The JWT has malformed claims.", jti=jti) from None
    if user is None:
        raise Refused(INVALID, jti=jti)
    server_ids = None
    if servers is not None:
        server_ids = frozenset(VirtualServer.objects.filter(slug__in=servers).values_list("pk", flat=True))
    principal = principal_for_credential(
        user, server_ids=server_ids, permission_scope=permission_scope, team_claim=team_claim,
        jti=jti or hashlib.sha256(raw.encode()).hexdigest()[:32],
    )
    return Credential(principal, UNSCOPED, float(claims["exp"]) if "exp" in claims else None)


def _oauth_credential(raw: str) -> Credential:
    """An access token of the external issuer (tokens.oauth_issuer): its user, narrowed by its scope claim."""
    try:
        claims = oauth_verify(raw)
    except JwtError as exc:
        raise Refused(str(exc)) from None
    jti = str(claims.get("jti", ""))[:64] or hashlib.sha256(raw.encode()).hexdigest()[:32]
    email = oauth_user_identity(claims)
    user = get_user_model().objects.filter(email=email, is_active=True).first() if email else None
    if user is None:
        raise Refused("The token names no Gatehouse user.", jti=jti)
    principal = principal_for_user(user, permission_scope=oauth_permissions(claims), jti=jti)
    return Credential(principal, UNSCOPED, float(claims["exp"]))


def credential_check(raw: str) -> Credential:
    """The credential a token string names; raises Refused. Database work: call it off the event loop."""
    if looks_like_jwt(raw):
        return _oauth_credential(raw) if oauth_issued(raw) else _jwt_credential(raw)
    return _opaque_credential(raw)


def token_authenticate(raw: str) -> tuple[ApiToken, Principal] | None:
    """An opaque token's row and Principal, or None (kept for callers that need the row)."""
    try:
        credential = _opaque_credential(raw)
    except Refused:
        return None
    return ApiToken.objects.get(pk=credential.token_id), credential.principal


def credential_admit(credential: Credential, *, client: Client, now: datetime | None = None) -> None:
    """The per-request checks (IP, time window, quota); raises Refused."""
    if credential.scope.empty:
        return
    reason = scope_refusal(credential.scope, ip=client.ip, now=now or timezone.now())
    if reason is not None:
        raise Refused(reason, token_id=credential.token_id, user_id=credential.principal.user_id)


# Data plane: credentials are remembered per process, keyed by a hash of the token and the catalog version, so a
# revocation (which bumps the version) is honoured on the next request in every process. Refusals are remembered
# too (briefly), so a flood of bad tokens costs no database work.
_remembered: BoundedMemo[tuple[str, int], tuple[Credential | Refused, float]] = BoundedMemo(50_000)


async def credential_for_bearer(header_value: str | None, *, version: int) -> Credential:
    """The Credential for an Authorization header value; raises Refused (reason "missing" when there is none)."""
    raw = bearer_from_header(header_value)
    if raw is None:
        raise Refused("Send 'Authorization: Bearer <token>'.")
    if len(raw) > 8192:
        raise Refused(INVALID)
    key = (hashlib.sha256(raw.encode()).hexdigest(), version)
    now = timezone.now().timestamp()
    remembered = _remembered.get(key)
    if remembered is None or remembered[1] <= now:
        try:
            found: Credential | Refused = await database_sync_to_async(credential_check)(raw)
        except Refused as refused:
            found = refused
        until = now + settings.GATEHOUSE_PRINCIPAL_CACHE_SECONDS
        if isinstance(found, Credential) and found.expires_at is not None:
            until = min(until, found.expires_at)
        remembered = (found, until)
        _remembered.put(key, remembered)
    if isinstance(remembered[0], Refused):
        raise remembered[0]
    return remembered[0]


async def principal_for_bearer(header_value: str | None, *, version: int) -> Principal | None:
    """The Principal for a header value, without the per-request scope checks (those are in access.py)."""
    try:
        return (await credential_for_bearer(header_value, version=version)).principal
    except Refused:
        return None


def _proxy_user_principal(email: str) -> Principal | None:
    user = get_user_model().objects.filter(email=email.strip().lower(), is_active=True).first()
    return principal_for_user(user) if user is not None else None


_proxy_principals: BoundedMemo[tuple[str, int], tuple[Principal | None, float]] = BoundedMemo(10_000)


async def principal_for_proxy_user(client: Client, *, version: int) -> Principal | None:
    """The user a trusted authenticating proxy names (TRUST_PROXY_AUTH), for the data plane; None otherwise."""
    if not settings.TRUST_PROXY_AUTH or not client.via_trusted_proxy or not client.proxy_user:
        return None
    key = (client.proxy_user.strip().lower(), version)
    now = timezone.now().timestamp()
    remembered = _proxy_principals.get(key)
    if remembered is None or remembered[1] <= now:
        principal = await database_sync_to_async(_proxy_user_principal)(client.proxy_user)
        remembered = (principal, now + settings.GATEHOUSE_PRINCIPAL_CACHE_SECONDS)
        _proxy_principals.put(key, remembered)
    return remembered[0]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF: sets ``request.user`` to the token's user and ``request.auth`` to its Principal.

    Leaves what ``TokenUsageMiddleware`` needs on the request: the credential, or the refusal.
    """

    def authenticate(self, request):
        raw = bearer_from_header(request.headers.get("Authorization"))
        if raw is None:
            return None
        django_request = getattr(request, "_request", request)
        try:
            credential = credential_check(raw)
            credential_admit(credential, client=client_from_request(request))
        except Refused as refused:
            django_request.gatehouse_refusal = refused
            raise exceptions.AuthenticationFailed(refused.reason) from None
        django_request.gatehouse_credential = credential
        user = get_user_model().objects.get(pk=credential.principal.user_id)
        return user, credential.principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="gatehouse"'


class TrustedProxyAuthentication(authentication.BaseAuthentication):
    """DRF: the user an authenticating reverse proxy names in PROXY_USER_HEADER, believed only from
    TRUSTED_PROXY_ADDRESSES and only with TRUST_PROXY_AUTH on."""

    def authenticate(self, request):
        if not settings.TRUST_PROXY_AUTH:
            return None
        client = client_from_request(request)
        if not client.via_trusted_proxy or not client.proxy_user:
            return None
        principal = _proxy_user_principal(client.proxy_user)
        if principal is None:
            raise exceptions.AuthenticationFailed("The proxy named an unknown user.")
        return get_user_model().objects.get(pk=principal.user_id), principal
