"""One client request in flight, and the way back to its client for what the upstream sends while answering it
(progress, log messages, sampling/elicitation/roots requests)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from proxy.protocol.jsonrpc import RequestId


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

    @classmethod
    def for_request(
        cls, request_id: RequestId, params: dict[str, Any], *, outlet: Outlet | None, session_nonce: str | None,
        features: ClientFeatures,
    ) -> DownstreamCall:
        meta = params.get("_meta")
        token = meta.get("progressToken") if isinstance(meta, dict) else None
        if isinstance(token, bool) or not isinstance(token, (str, int)):
            token = None
        return cls(request_id, outlet, session_nonce, features, token)

    @property
    def can_stream(self) -> bool:
        return self.outlet is not None and self.outlet.can_stream

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
