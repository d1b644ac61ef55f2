"""Header passthrough: which of a client's request headers may travel on to an upstream.

Off unless GATEHOUSE_HEADER_PASSTHROUGH=true, and then only the names an upstream allowlists. The client's own
``Authorization`` (its Gatehouse token) never travels; a client that must authenticate to the upstream itself sends
``X-Upstream-Authorization``, forwarded as ``Authorization`` when the upstream allowlists it. Names and values are
sanitised: control characters refuse the header, values are clamped to ``MAX_VALUE_BYTES``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.conf import settings

MAX_VALUE_BYTES = 4096
MAX_ALLOWLIST = 32
UPSTREAM_AUTHORIZATION = "x-upstream-authorization"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")  # RFC 9110 field-name characters
# Never forwarded, whatever an allowlist says: Gatehouse's own credentials and session, connection management, and
# headers that would let a client steer the upstream request itself.
_NEVER = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "host", "content-length", "content-type",
    "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection", "expect",
    "mcp-session-id", "mcp-protocol-version", "last-event-id", "accept", "accept-encoding",
    "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded", "x-real-ip",
})


class PassthroughError(ValueError):
    pass


def header_name_refusal(name: object) -> str | None:
    """Why ``name`` may not be set on an upstream request by anything a client controls, or None."""
    if not isinstance(name, str) or not _TOKEN.match(name):
        return f"{name!r} is not a valid HTTP header name."
    if name.lower() in _NEVER:
        return f"The {name} header is never set from a client's input."
    return None


def allowlist_clean(names: Iterable[str] | None) -> list[str]:
    """Validate an upstream's allowlist (at registration): header names, lower-cased, none of the forbidden ones."""
    cleaned: list[str] = []
    for name in names or []:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise PassthroughError(f"{name!r} is not a valid HTTP header name.")
        lowered = name.lower()
        if lowered in _NEVER:
            raise PassthroughError(f"The {name} header is never passed to upstreams.")
        if lowered not in cleaned:
            cleaned.append(lowered)
    if len(cleaned) > MAX_ALLOWLIST:
        raise PassthroughError(f"At most {MAX_ALLOWLIST} headers may be passed through.")
    return cleaned


def header_value_clean(name: str, value: str) -> str:
    """A header value without control characters (else PassthroughError), clamped to MAX_VALUE_BYTES."""
    if any(ord(ch) < 0x20 and ch != "\t" or ord(ch) == 0x7F for ch in value):
        raise PassthroughError(f"The {name} header holds control characters.")
    encoded = value.strip().encode("utf-8")[:MAX_VALUE_BYTES]
    return encoded.decode("utf-8", errors="ignore")


def passthrough_headers(*, allowlist: Iterable[str], incoming: Mapping[str, str]) -> dict[str, str]:
    """The headers to add to the upstream request, from the client's (lower-cased names) and the upstream's
    allowlist. Raises PassthroughError for a header that would be forwarded but is malformed."""
    if not settings.GATEHOUSE_HEADER_PASSTHROUGH:
        return {}
    allowed = set(allowlist)
    forwarded: dict[str, str] = {}
    for name, value in incoming.items():
        name = name.lower()
        if name == UPSTREAM_AUTHORIZATION and UPSTREAM_AUTHORIZATION in allowed:
            forwarded["authorization"] = header_value_clean(name, value)
        elif name in allowed and name not in _NEVER:
            forwarded[name] = header_value_clean(name, value)
    return forwarded
