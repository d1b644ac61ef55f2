from __future__ import annotations

HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[-1]
# A handshake-era request without the MCP-Protocol-Version header is taken to be this revision (the spec's rule).
DEFAULT_HEADER_VERSION = "2025-03-26"


def negotiate(requested: str) -> str:
    return requested if requested in HANDSHAKE_VERSIONS else LATEST_HANDSHAKE
