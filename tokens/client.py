"""Who is on the other end of the connection: client address and user agent, for scopes and usage records.

The MCP consumers run outside Django's middleware, so ``ClientMiddleware`` (wrapped around the ASGI routers in
config/asgi.py) puts the client into a context variable that ``proxy.protocol.access`` reads; DRF reads
``request.META``. A forwarded address (``X-Forwarded-For``) is believed only from TRUSTED_PROXY_ADDRESSES.
"""
from __future__ import annotations

import contextvars
import functools
import ipaddress
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Client:
    ip: str | None
    user_agent: str = ""
    # The direct peer is a trusted proxy: its forwarded address and user header may be believed.
    via_trusted_proxy: bool = False
    proxy_user: str = ""


UNKNOWN = Client(None)
current_client: contextvars.ContextVar[Client] = contextvars.ContextVar("gatehouse_client", default=UNKNOWN)


@functools.lru_cache(maxsize=1)
def _trusted_networks(addresses: tuple[str, ...]) -> tuple:
    networks = []
    for address in addresses:
        try:
            networks.append(ipaddress.ip_network(address, strict=False))
        except ValueError:
            continue  # reported at start-up (tokens.E002); trusting less is the safe side
    return tuple(networks)


def is_trusted_proxy(peer: str | None) -> bool:
    if not peer or not settings.TRUSTED_PROXY_ADDRESSES:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXY_ADDRESSES)))


def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_resolve(*, peer: str | None, forwarded_for: str, user_agent: str, proxy_user: str = "") -> Client:
    """The client as the gateway should believe it: the nearest untrusted address in X-Forwarded-For."""
    peer = _address(peer)
    if not is_trusted_proxy(peer):
        return Client(peer, user_agent[:255])
    ip = peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            break
        ip = address
        if not is_trusted_proxy(address):
            break
    return Client(ip, user_agent[:255], True, proxy_user)


def client_from_request(request) -> Client:
    meta = request.META
    header = "HTTP_" + settings.PROXY_USER_HEADER.upper().replace("-", "_")
    return client_resolve(
        peer=meta.get("REMOTE_ADDR"),
        forwarded_for=meta.get("HTTP_X_FORWARDED_FOR", ""),
        user_agent=meta.get("HTTP_USER_AGENT", ""),
        proxy_user=meta.get(header, ""),
    )


class ClientMiddleware:
    """ASGI middleware: sets ``current_client`` for the consumer that serves this connection."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = {name.lower(): value for name, value in scope.get("headers", ())}
            peer = scope.get("client")
            current_client.set(client_resolve(
                peer=peer[0] if peer else None,
                forwarded_for=headers.get(b"x-forwarded-for", b"").decode("latin-1"),
                user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
                proxy_user=headers.get(settings.PROXY_USER_HEADER.lower().encode(), b"").decode("latin-1"),
            ))
        return await self.app(scope, receive, send)
