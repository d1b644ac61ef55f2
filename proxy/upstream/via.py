"""Loop detection between federated gateways with the HTTP ``Via`` header (RFC 9110 §7.6.3).

Every request Gatehouse sends upstream carries ``Via: 1.1 <GATEHOUSE_INSTANCE_ID>``; an incoming MCP request whose
Via already names this instance has come back round a loop and is refused.
"""
from __future__ import annotations

from django.conf import settings


def via_value() -> str:
    return f"1.1 {settings.GATEHOUSE_INSTANCE_ID}"


def via_names_us(headers: dict[str, str]) -> bool:
    """True when the request's Via header lists this instance among the intermediaries it passed."""
    via = headers.get("via")
    if not via:
        return False
    ours = settings.GATEHOUSE_INSTANCE_ID
    for hop in via.split(","):
        parts = hop.strip().split()
        if len(parts) >= 2 and parts[1] == ours:
            return True
    return False
