"""The SSRF guard: every outbound HTTP connection Gatehouse makes is checked on its resolved address.

A URL's host is only a name; what matters is the address the socket connects to. The guard therefore sits in the
network backend of the HTTP clients (``egress_async_client``, ``egress_client``, ``egress_client_factory``): when a
connection is opened it resolves the host, refuses the connection if any resolved address is internal (loopback,
private, link-local such as the cloud metadata address 169.254.169.254, IPv6 unique-local, unspecified, multicast,
reserved, shared, or an IPv4 address embedded in an IPv6 form) unless ``GATEHOUSE_EGRESS_ALLOW`` admits it, and then
connects to the address it checked, so a second DNS answer cannot slip in between check and connect. Every redirect
hop opens its connection through the same backend, so redirects are re-checked; clients built here follow at most
``MAX_REDIRECTS``. The data plane's aiohttp session (``egress_aiohttp_session``, for 2026-07-28 upstreams) checks
in its resolver, and on every request for a host written as an IP address (``url_refusal``), which aiohttp never
resolves; it follows no redirects.

Numeric host spellings other than dotted decimal (``2130706433``, ``0177.0.0.1``, ``0x7f.1``) are refused outright:
resolvers accept them, humans misread them, and no legitimate upstream needs them.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any

import aiohttp
import anyio
import httpcore2
import httpx2
import yarl
from aiohttp.abc import AbstractResolver
from django.conf import settings

MAX_REDIRECTS = 5
_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_DOTTED_DECIMAL = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
# Shared address space (RFC 6598) is neither "private" nor global in Python's tables; name it for the message.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """An outbound connection the SSRF guard refused. The message names the host and the reason, never a secret."""


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(tuple(settings.GATEHOUSE_EGRESS_ALLOW))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 form (mapped, compatible, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, or deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _category(ip: IPAddress) -> str | None:
    """Why ``ip`` is internal, or None for a public unicast address."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "unique-local"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why a connection to ``ip`` is refused, or None when it may go ahead."""
    allowed = allowed_networks()
    embedded = _embedded_ipv4(ip)
    for candidate in (ip, embedded):
        if candidate is not None and any(candidate in network for network in allowed if candidate.version == network.version):
            return None
    reason = _category(ip)
    if reason is None and embedded is not None:
        reason = _category(embedded)
        if reason is not None:
            reason = f"{reason} (IPv4 {embedded} inside an IPv6 address)"
    if reason is None:
        return None
    return f"{ip} is a {reason} address; add it to GATEHOUSE_EGRESS_ALLOW to permit it"


def obfuscated_ip_literal(host: str) -> bool:
    """True for a host that a resolver reads as an IPv4 address but that is not written in dotted decimal."""
    if _DOTTED_DECIMAL.match(host) or ":" in host:
        return False
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def host_refusal(host: str) -> str | None:
    """A check that needs no DNS: obfuscated numbers, and internal IP literals. Used when a URL is registered."""
    if obfuscated_ip_literal(host):
        return f"'{host}' is a numeric IP address in a non-standard form; write it in dotted decimal"
    literal = ip_literal(host)
    return address_refusal(literal) if literal is not None else None


def _checked(host: str, port: int, resolved: Iterable[tuple[Any, ...]]) -> list[str]:
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in resolved:
        address = str(sockaddr[0]).split("%", 1)[0]
        refusal = address_refusal(ipaddress.ip_address(address))
        if refusal is not None:
            raise EgressRefused(f"Refused to connect to {host}:{port}: {refusal}.")
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressRefused(f"Refused to connect to {host}:{port}: the name did not resolve.")
    return addresses


def _refuse_obfuscated(host: str, port: int) -> None:
    if obfuscated_ip_literal(host):
        raise EgressRefused(f"Refused to connect to {host}:{port}: numeric IP addresses must be dotted decimal.")


class GuardedAsyncBackend(httpcore2.AsyncNetworkBackend):
    """httpcore's network backend with the check between resolving and connecting."""

    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        _refuse_obfuscated(host, port)
        try:
            with anyio.fail_after(timeout):
                resolved = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore2.ConnectError(f"Could not resolve {host}: {exc}") from exc
        last: Exception | None = None
        # Connect to the very addresses that were checked (no second lookup), in the resolver's order.
        for address in _checked(host, port, resolved):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise EgressRefused("Refused to connect to a Unix socket.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedSyncBackend(httpcore2.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore2.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        _refuse_obfuscated(host, port)
        try:
            resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore2.ConnectError(f"Could not resolve {host}: {exc}") from exc
        last: Exception | None = None
        for address in _checked(host, port, resolved):
            try:
                return self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise EgressRefused("Refused to connect to a Unix socket.")


class GuardedAsyncTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport over a connection pool whose every new connection passes the guard."""

    def __init__(self, *, verify: bool = True, limits: httpx2.Limits = _LIMITS) -> None:
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedAsyncBackend(),
        )


class GuardedSyncTransport(httpx2.HTTPTransport):
    def __init__(self, *, verify: bool = True, limits: httpx2.Limits = _LIMITS) -> None:
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedSyncBackend(),
        )


def egress_async_client(*, transport: GuardedAsyncTransport | None = None, **kwargs: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` whose connections pass the guard (``transport`` may be a subclass of the guarded
    one). ``trust_env`` is off: an environment proxy would be mounted beside the guarded transport and bypass it."""
    kwargs.setdefault("max_redirects", MAX_REDIRECTS)
    return httpx2.AsyncClient(transport=transport or GuardedAsyncTransport(), trust_env=False, **kwargs)


def egress_client(**kwargs: Any) -> httpx2.Client:
    kwargs.setdefault("max_redirects", MAX_REDIRECTS)
    return httpx2.Client(transport=GuardedSyncTransport(), trust_env=False, **kwargs)


def egress_client_factory(
    headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth: httpx2.Auth | None = None
) -> httpx2.AsyncClient:
    """The ``httpx_client_factory`` the MCP SDK's transports accept (same signature as its default)."""
    kwargs: dict[str, Any] = {"headers": headers, "auth": auth}
    if timeout is not None:
        kwargs["timeout"] = timeout
    return egress_async_client(**kwargs)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with the check: the addresses it returns are the ones aiohttp connects to."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict]:
        _refuse_obfuscated(host, port)
        loop = asyncio.get_running_loop()
        try:
            resolved = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        except OSError as exc:
            raise OSError(f"Could not resolve {host}: {exc}") from exc
        checked = _checked(host, port, resolved)
        return [
            {"hostname": host, "host": address, "port": port, "flags": socket.AI_NUMERICHOST, "proto": 0,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
            for address in checked
        ]

    async def close(self) -> None:
        return None


def url_refusal(url: yarl.URL) -> str | None:
    """The check for a URL whose host is an IP address (aiohttp connects to those without resolving)."""
    host = url.host or ""
    literal = ip_literal(host)
    if literal is None:
        return None
    refusal = address_refusal(literal)
    return None if refusal is None else f"Refused to connect to {host}:{url.port}: {refusal}."


def egress_aiohttp_session() -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` whose name lookups pass the guard; check IP-literal URLs with ``url_refusal``.
    No environment proxies (they would bypass the guard), no cookies (upstreams are shared between callers), and
    idle connections are dropped before a typical server's 5 s keep-alive ends."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(), limit=_LIMITS.max_connections, keepalive_timeout=4.0, ttl_dns_cache=10,
    )
    return aiohttp.ClientSession(
        connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
    )
