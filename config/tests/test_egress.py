"""The SSRF guard, attacked: internal addresses in every spelling, names that resolve inward, redirects inward."""
from __future__ import annotations

import asyncio
import ipaddress
import logging

import httpx2
import pytest
from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from catalog.errors import CatalogError
from catalog.models import Tool
from config.egress import EgressRefused, address_refusal, egress_async_client, egress_client
from proxy.tests.conftest import Gateway, closed_pool  # noqa: F401 - fixture
from tests.factories import UserFactory
from tokens import services as token_services


@pytest.fixture
def no_internal_egress(settings):
    """Production's default: nothing internal may be reached."""
    settings.GATEHOUSE_EGRESS_ALLOW = ()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "fc00::5", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::",
    ],
)
def test_internal_addresses_are_refused(no_internal_egress, address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(no_internal_egress, address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_allowlist_admits_a_range_and_its_mapped_form(settings):
    settings.GATEHOUSE_EGRESS_ALLOW = ("10.0.0.0/8",)
    assert address_refusal(ipaddress.ip_address("10.9.8.7")) is None
    assert address_refusal(ipaddress.ip_address("::ffff:10.9.8.7")) is None
    assert address_refusal(ipaddress.ip_address("10.9.8.7")) is None
    assert address_refusal(ipaddress.ip_address("192.168.0.1")) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9/",  # a name that resolves to loopback
        "http://[::1]:9/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://2130706433:9/",  # 127.0.0.1 as one decimal number
        "http://0x7f.1:9/",  # 127.0.0.1 in hex, short form
        "http://0.0.0.0:9/",
    ],
)
async def test_connections_to_internal_addresses_are_refused(no_internal_egress, url):
    async with egress_async_client() as client:
        with pytest.raises(EgressRefused):
            await client.get(url)


def test_octal_dotted_form_never_reaches_a_socket(no_internal_egress):
    # httpx2 itself refuses '0177.0.0.1' as a URL; either refusal keeps the connection from happening.
    with egress_client() as client, pytest.raises((EgressRefused, httpx2.InvalidURL)):
        client.get("http://0177.0.0.1:9/")


def test_sync_client_refuses_metadata_address(no_internal_egress):
    with egress_client() as client, pytest.raises(EgressRefused, match="link-local"):
        client.get("http://169.254.169.254/")


class _RedirectServer:
    """A real HTTP server on loopback: /ok answers 200, /inward redirects to the metadata address, /loop to itself."""

    async def __aenter__(self) -> _RedirectServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.hits = 0
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        self.hits += 1
        path = request_line.split(" ")[1]
        if path == "/ok":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        else:
            target = "http://169.254.169.254/latest/meta-data/" if path == "/inward" else f"http://127.0.0.1:{self.port}/loop"
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


async def test_an_admitted_server_is_reached(settings):
    settings.GATEHOUSE_EGRESS_ALLOW = ("127.0.0.1/32",)
    async with _RedirectServer() as server, egress_async_client() as client:
        response = await client.get(f"http://127.0.0.1:{server.port}/ok")
    assert response.text == "ok"


async def test_redirect_from_an_admitted_server_into_link_local_is_refused(settings):
    settings.GATEHOUSE_EGRESS_ALLOW = ("127.0.0.1/32",)
    async with _RedirectServer() as server, egress_async_client(follow_redirects=True) as client:
        with pytest.raises(EgressRefused, match="169.254.169.254"):
            await client.get(f"http://127.0.0.1:{server.port}/inward")
    assert server.hits == 1


async def test_redirects_are_capped(settings):
    settings.GATEHOUSE_EGRESS_ALLOW = ("127.0.0.1/32",)
    async with _RedirectServer() as server, egress_async_client(follow_redirects=True) as client:
        with pytest.raises(httpx2.TooManyRedirects):
            await client.get(f"http://127.0.0.1:{server.port}/loop")
    assert server.hits == 6  # the first request and five redirects


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/mcp", "http://[::1]:9000/mcp", "http://0x7f.1/mcp", "http://2130706433/mcp",
     "http://0177.0.0.1/mcp", "ftp://example.com/mcp", "file:///etc/passwd"],
)
def test_registration_refuses_internal_literals_and_foreign_schemes(db, owner, no_internal_egress, url):
    with pytest.raises(CatalogError):
        catalog_services.upstream_create(owner=owner, name="evil", url=url)


def test_discovery_through_a_name_resolving_to_loopback_fails_clearly(db, owner, upstream_process, no_internal_egress):
    url = upstream_process.url.replace("127.0.0.1", "localhost")
    upstream = catalog_services.upstream_create(owner=owner, name="inward", url=url)
    report = catalog_services.upstream_discover(upstream=upstream)
    assert not report.ok
    assert "Refused to connect to localhost" in report.error
    assert "loopback" in report.error


@pytest.mark.django_db(transaction=True)
async def test_mcp_call_to_a_refused_upstream_is_unavailable_naming_it(upstream_process, closed_pool, settings):
    def publish() -> str:
        owner = UserFactory(email="egress@example.com")
        upstream = catalog_services.upstream_create(owner=owner, name="inward", url=upstream_process.url)
        tool = Tool.objects.create(
            upstream=upstream, owner=owner, original_name="echo", exposed_name="inward__echo",
            input_schema='{"type":"object"}',
        )
        catalog_services.server_create(owner=owner, slug="inward", tools=[(tool, "")])
        return token_services.token_create(user=owner, name="egress")[1]

    token = await sync_to_async(publish)()
    settings.GATEHOUSE_EGRESS_ALLOW = ()
    gateway = Gateway("/servers/inward/mcp", token)
    await gateway.initialize()
    logged: list[str] = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = logging.getLogger("proxy.upstream.pool")
    logger.addHandler(handler)
    try:
        response = await gateway.send(gateway.request("tools/call", {"name": "inward__echo", "arguments": {"x": 1}}))
    finally:
        logger.removeHandler(handler)
    assert response["json"]["error"]["code"] == -32000
    assert response["json"]["error"]["message"] == "Upstream 'inward' is unavailable."
    # The reason goes to the operator's log, not to the client.
    assert any("is a loopback address" in line for line in logged)
    assert "loopback" not in response["json"]["error"]["message"]


@pytest.fixture(scope="module")
def sse_upstream():
    from tests.processes import FixtureUpstream

    upstream = FixtureUpstream(transport="sse").start()
    yield upstream
    upstream.stop()


def test_legacy_sse_upstreams_pass_the_guard_too(db, owner, sse_upstream, settings):
    upstream = catalog_services.upstream_create(owner=owner, name="legacy", url=sse_upstream.url, transport="sse")
    assert catalog_services.upstream_discover(upstream=upstream).ok  # admitted: loopback is allowed locally
    settings.GATEHOUSE_EGRESS_ALLOW = ()
    report = catalog_services.upstream_discover(upstream=upstream)
    assert not report.ok and "is a loopback address" in report.error
