"""Handshake-era MCP sessions: the ``Mcp-Session-Id`` is a signed token binding principal, token and server.

No server-side state is needed to accept a session on any process; a session presented by another principal or on
another server is unknown (404). Ended sessions are remembered in the shared cache until they would expire anyway.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from config.cache import process_cache
from config.memo import BoundedMemo
from teams.principal import Principal

_SALT = "gatehouse.mcp-session"
_ENDED_PREFIX = "gatehouse:mcp-session-ended:"


@dataclass(frozen=True, slots=True)
class McpSession:
    id: str
    nonce: str
    user_id: int
    # The credential the session belongs to (Principal.cache_key: token, JWT id, or anonymous).
    credential: str
    server_slug: str
    protocol_version: str
    expires_at: int
    # ClientFeatures.bits: which server→client requests the client said it answers.
    client_features: int = 0


_verified: BoundedMemo[str, McpSession] = BoundedMemo(50_000)




def session_issue(
    *, principal: Principal, server_slug: str, protocol_version: str, client_features: int = 0
) -> McpSession:
    nonce = secrets.token_urlsafe(16)
    expires_at = int(time.time()) + settings.GATEHOUSE_MCP_SESSION_TTL_SECONDS
    credential = principal.cache_key
    payload = {
        "n": nonce, "u": principal.user_id, "t": credential, "s": server_slug, "v": protocol_version, "x": expires_at,
        "c": client_features,
    }
    session_id = signing.dumps(payload, salt=_SALT, compress=False)
    return McpSession(
        session_id, nonce, principal.user_id, credential, server_slug, protocol_version, expires_at, client_features
    )


def session_resolve(session_id: str, *, principal: Principal, server_slug: str) -> McpSession | None:
    """The session if it is genuine, live, and belongs to this principal on this server; else None."""
    session = _verified.get(session_id)
    if session is None:
        if len(session_id) > 512:
            return None
        try:
            payload = signing.loads(session_id, salt=_SALT)
            session = McpSession(
                session_id, payload["n"], payload["u"], payload["t"], payload["s"], payload["v"], payload["x"],
                payload.get("c", 0),
            )
        except (signing.BadSignature, KeyError, TypeError):
            return None
        _verified.put(session_id, session)
    if session.expires_at < time.time():
        return None
    if (session.user_id, session.credential, session.server_slug) != (
        principal.user_id,
        principal.cache_key,
        server_slug,
    ):
        return None
    if session_ended(session.nonce):
        return None
    return session


def session_ended(nonce: str) -> bool:
    """Whether the client session ``nonce`` was ended (DELETE) on any process."""
    return bool(process_cache().get(_ENDED_PREFIX + nonce))


def session_end(session: McpSession) -> None:
    process_cache().set(_ENDED_PREFIX + session.nonce, 1, settings.GATEHOUSE_MCP_SESSION_TTL_SECONDS)
