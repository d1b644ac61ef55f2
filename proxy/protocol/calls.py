"""One client request in flight, and the way back to its client for what the upstream sends while answering it
(progress, log messages, sampling/elicitation/roots requests)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mcp_types import LOG_LEVEL_META_KEY

from proxy.protocol.jsonrpc import RequestId

# The severities of notifications/message (RFC 5424), least severe first.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def log_level_passes(level: Any, threshold: str) -> bool:
    """Whether a log message at ``level`` is at or above ``threshold``; a level outside LOG_LEVELS passes."""
    if level not in LOG_LEVELS or threshold not in LOG_LEVELS:
        return True
    return LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold)


class Outlet(Protocol):
    """Where server→client messages of one call go: its SSE response, a legacy SSE stream or a WebSocket."""

    @property
    def can_stream(self) -> bool:
        """Whether messages other than the final reply can reach the client (a JSON-only POST cannot)."""

    async def send(self, message: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class ClientFeatures:
    """The server→client requests the downstream client said it answers (its ``initialize`` capabilities)."""

    sampling: bool = False
    elicitation: bool = False
    roots: bool = False

    @classmethod
    def from_capabilities(cls, capabilities: Any) -> ClientFeatures:
        if not isinstance(capabilities, dict):
            return cls()
        return cls(
            sampling=isinstance(capabilities.get("sampling"), dict),
            elicitation=isinstance(capabilities.get("elicitation"), dict),
            roots=isinstance(capabilities.get("roots"), dict),
        )

    @property
    def bits(self) -> int:
        return self.sampling | self.elicitation << 1 | self.roots << 2

    @classmethod
    def from_bits(cls, bits: int) -> ClientFeatures:
        return cls(sampling=bool(bits & 1), elicitation=bool(bits & 2), roots=bool(bits & 4))


@dataclass(slots=True, eq=False)
class DownstreamCall:
    request_id: RequestId
    outlet: Outlet | None
    # The handshake-era session the call belongs to; None in the stateless era.
    session_nonce: str | None = None
    features: ClientFeatures = ClientFeatures()
    progress_token: str | int | None = None
    # A stateless request's opt-in to log messages (``_meta`` logLevel): that level and above, none without it.
    # Handshake-era calls leave it None: their session's logging/setLevel decides (proxy.relay.log_wanted).
    log_level: str | None = None

    @classmethod
    def for_request(
        cls, request_id: RequestId, params: dict[str, Any], *, outlet: Outlet | None, session_nonce: str | None,
        features: ClientFeatures,
    ) -> DownstreamCall:
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        if isinstance(token, bool) or not isinstance(token, (str, int)):
            token = None
        level = meta.get(LOG_LEVEL_META_KEY) if isinstance(meta, dict) and session_nonce is None else None
        return cls(request_id, outlet, session_nonce, features, token, level if level in LOG_LEVELS else None)

    @property
    def can_stream(self) -> bool:
        return self.outlet is not None and self.outlet.can_stream

    @property
    def upstream_log_level(self) -> str | None:
        """The log level to ask a stateless upstream for: none when no message could reach the client; every level
        for a handshake-era session (its logging/setLevel filters them as they arrive); else the request's own."""
        if not self.can_stream:
            return None
        return "debug" if self.session_nonce is not None else self.log_level

    async def send(self, message: dict[str, Any]) -> None:
        if self.can_stream:
            await self.outlet.send(message)

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        """Relay upstream progress under the token the client chose (the SDK picked its own upstream)."""
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message:
            params["message"] = message
        await self.send({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
