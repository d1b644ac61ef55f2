"""What the data plane needs to serve one (principal, server): built from the database once, then kept in memory."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


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

    @property
    def pool_key(self) -> tuple[int, str, str, str]:
        """One pooled session per (upstream, credential); a credential change opens a new one."""
        fingerprint = hashlib.sha256(repr(self.headers).encode()).hexdigest()[:16]
        return (self.id, self.url, self.transport, fingerprint)


@dataclass(frozen=True, slots=True)
class ToolRoute:
    name: str
    original_name: str
    upstream: UpstreamTarget


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    server_id: int | None
    server_slug: str
    server_name: str
    tools: dict[str, ToolRoute]
    tool_listing: tuple[dict[str, Any], ...]
