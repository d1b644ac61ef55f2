"""OAuth access tokens for upstreams, added per request (they change while a pooled session lives).

``oauth_user``: the token of the user the snapshot was built for (catalog.oauth), loaded once and kept in memory
until shortly before it expires, then refreshed, one refresh at a time per connection. A caller who has not
connected gets a JSON-RPC error whose data carries the Gatehouse page to open. ``oauth_client_credentials``:
Gatehouse's own token, fetched and cached the same way. An upstream 401 makes one refetch and one retry.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncGenerator

import httpx2
from channels.db import database_sync_to_async
from django.conf import settings
from mcp_types import URL_ELICITATION_REQUIRED

from catalog.snapshot import UpstreamTarget
from config.memo import BoundedMemo
from proxy.upstream.errors import UpstreamError, UpstreamUnavailable

logger = logging.getLogger(__name__)

OAUTH_TYPES = ("oauth_user", "oauth_client_credentials")

# (kind, upstream id, user and connection id, or client fingerprint) → (access token, expiry as a Unix time).
_tokens: BoundedMemo[tuple, tuple[str, float]] = BoundedMemo(10_000)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, asyncio.Lock]] = weakref.WeakKeyDictionary()


class UpstreamAuthorizationRequired(UpstreamError):
    """The caller must connect their own account to this upstream first (MCP's URL-elicitation-required error:
    a client that knows it opens the URL; any other shows the message)."""

    code = URL_ELICITATION_REQUIRED


def connect_url(target: UpstreamTarget) -> str:
    return f"{settings.GATEHOUSE_PUBLIC_URL.rstrip('/')}/accounts/upstreams/{target.slug}/connect/"


def _authorization_required(target: UpstreamTarget) -> UpstreamAuthorizationRequired:
    if target.oauth_user_id is None:
        return UpstreamAuthorizationRequired(
            f"Upstream '{target.name}' acts for each signed-in user with their own account; "
            "call it with your own Gatehouse token."
        )
    url = connect_url(target)
    message = f"Upstream '{target.name}' needs your authorization: open {url} to connect your account, then retry."
    return UpstreamAuthorizationRequired(
        message,
        data={
            "connectUrl": url,
            "elicitations": [
                {"mode": "url", "elicitationId": f"connect-{target.slug}", "url": url, "message": message}
            ],
        },
    )


def _key(target: UpstreamTarget) -> tuple:
    if target.per_user:
        return ("user", target.id, target.oauth_user_id, target.oauth_connection_id)
    return ("client", target.id, hash(target.oauth_client))


def _lock(key: tuple) -> asyncio.Lock:
    locks = _locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(key, asyncio.Lock())


def _fresh(cached: tuple[str, float] | None, stale: str | None) -> bool:
    margin = settings.GATEHOUSE_UPSTREAM_OAUTH_REFRESH_MARGIN_SECONDS
    return cached is not None and cached[0] != stale and cached[1] - margin > time.time()


async def _user_token(target: UpstreamTarget, stale: str | None) -> tuple[str, float]:
    from catalog.oauth.selectors import connection_access_token
    from catalog.oauth.services import upstream_connection_refresh

    if target.oauth_user_id is None or target.oauth_connection_id is None:
        raise _authorization_required(target)
    loaded = await database_sync_to_async(connection_access_token)(connection_id=target.oauth_connection_id)
    if loaded is not None and _fresh(loaded, stale):
        return loaded
    if loaded is not None:
        loaded = await database_sync_to_async(upstream_connection_refresh)(
            connection_id=target.oauth_connection_id, stale_access_token=loaded[0]
        )
    if loaded is None:
        raise _authorization_required(target)
    return loaded


async def _client_token(target: UpstreamTarget) -> tuple[str, float]:
    from catalog.oauth.discovery import client_credentials_token

    oauth = dict(target.oauth_client or ())
    return await asyncio.to_thread(client_credentials_token, upstream_url=target.url, oauth=oauth)


async def access_token(target: UpstreamTarget, *, stale: str | None = None) -> str:
    """The access token to send ``target`` now; ``stale`` is one the upstream just refused."""
    key = _key(target)
    cached = _tokens.get(key)
    if _fresh(cached, stale):
        return cached[0]
    async with _lock(key):
        cached = _tokens.get(key)
        if _fresh(cached, stale):
            return cached[0]
        try:
            fetched = await (_user_token(target, stale) if target.per_user else _client_token(target))
        except UpstreamError:
            raise
        except Exception as exc:  # noqa: BLE001 - the authorization server failing makes the upstream unusable
            # The client learns which upstream; the cause (URLs, OAuth error codes) goes to the log only.
            logger.warning("No OAuth access token for upstream %s: %s", target.name, exc)
            raise UpstreamUnavailable(f"Upstream '{target.name}': could not obtain an OAuth access token.") from exc
        _tokens.put(key, fetched)
        return fetched[0]


async def upstream_authorization_ready(target: UpstreamTarget) -> None:
    """Before a call: make sure a token is at hand, or answer why not (connect first, authorization server down)."""
    if target.auth_type in OAUTH_TYPES:
        await access_token(target)


class UpstreamOAuth(httpx2.Auth):
    """Adds the current bearer token to every request of an upstream session; a 401 refetches once and retries."""

    requires_request_body = True

    def __init__(self, target: UpstreamTarget) -> None:
        self.target = target

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await access_token(self.target)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:  # httpx reads and closes the refused response itself
            request.headers["Authorization"] = f"Bearer {await access_token(self.target, stale=token)}"
            yield request


def upstream_auth(target: UpstreamTarget) -> httpx2.Auth | None:
    return UpstreamOAuth(target) if target.auth_type in OAUTH_TYPES else None
