"""Header passthrough against real upstreams that echo the headers they receive: an MCP server
(tests/fixtures/header_echo_server.py, pooled sessions) and a REST API (tests/fixtures/rest_server.py)."""
from __future__ import annotations

import json
import sys

import pytest

from catalog import services as catalog_services
from catalog.errors import CatalogError
from catalog.models import Tool
from catalog.passthrough import MAX_VALUE_BYTES
from proxy.tests.conftest import Gateway
from proxy.upstream.rest import rest_clients_close
from tests.factories import UserFactory
from tests.processes import ROOT, FixtureUpstream, free_port, running
from tokens import services as token_services

pytestmark = pytest.mark.django_db(transaction=True)

ALLOWLIST = ["X-Tenant", "X-Upstream-Authorization"]


@pytest.fixture(scope="module")
def echo_upstream():
    upstream = FixtureUpstream(script=ROOT / "tests" / "fixtures" / "header_echo_server.py").start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def rest_api():
    port = free_port()
    with running([sys.executable, str(ROOT / "tests" / "fixtures" / "rest_server.py"), "--port", str(port)], port):
        yield f"http://127.0.0.1:{port}/api"


@pytest.fixture
def passthrough(settings):
    settings.GATEHOUSE_HEADER_PASSTHROUGH = True
    settings.GATEHOUSE_REST_TOOLS = True


@pytest.fixture
def echo_catalog(transactional_db, echo_upstream, rest_api):
    owner = UserFactory(email="passthrough-owner@example.com")
    upstream = catalog_services.upstream_create(
        owner=owner, name="echo", url=echo_upstream.url, timeout_seconds=5, header_passthrough=ALLOWLIST,
    )
    assert catalog_services.upstream_discover(upstream=upstream).ok
    tools = [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.GATEHOUSE_REST_TOOLS", True)
        rest = catalog_services.upstream_create(
            owner=owner, name="Echo API", slug="echo_api", url=rest_api, transport="rest", timeout_seconds=5,
            header_passthrough=["x-tenant"],
        )
        tools.append((catalog_services.rest_tool_define(upstream=rest, name="echo_get", path="/echo/x", actor=owner), ""))
    catalog_services.server_create(owner=owner, slug="echo", tools=tools)
    return {"owner": owner, "upstream": upstream, "token": token_services.token_create(user=owner, name="t")[1]}


@pytest.fixture
async def closed_clients(closed_pool):
    yield
    await rest_clients_close()


async def _received(gateway: Gateway, tool: str = "echo__received_headers", **headers: str) -> dict:
    response = await gateway.send(gateway.request("tools/call", {"name": tool, "arguments": {}}), **headers)
    assert response["status"] == 200
    message = response["json"]
    if "error" in message:
        return message
    text = message["result"]["content"][0]["text"]
    received = json.loads(text)
    return received["headers"] if tool == "echo_api__echo_get" else received


async def _gateway(catalog) -> Gateway:
    gateway = Gateway("/servers/echo/mcp", catalog["token"])
    assert (await gateway.initialize())["status"] == 200
    return gateway


async def test_an_allowlisted_header_arrives_and_others_do_not(echo_catalog, passthrough, closed_clients):
    gateway = await _gateway(echo_catalog)
    received = await _received(gateway, x_tenant="acme", x_other="nope")
    assert received["x-tenant"] == "acme"
    assert "x-other" not in received


async def test_the_gatehouse_token_never_travels_but_x_upstream_authorization_does(
        echo_catalog, passthrough, closed_clients):
    gateway = await _gateway(echo_catalog)
    received = await _received(gateway, x_upstream_authorization="Bearer upstream-own-token")
    assert received["authorization"] == "Bearer upstream-own-token"
    assert "x-upstream-authorization" not in received
    assert echo_catalog["token"] not in json.dumps(received)


async def test_nothing_passes_with_the_switch_off(echo_catalog, settings, closed_clients):
    settings.GATEHOUSE_HEADER_PASSTHROUGH = False
    gateway = await _gateway(echo_catalog)
    received = await _received(gateway, x_tenant="acme")
    assert "x-tenant" not in received


async def test_control_characters_are_refused_with_a_clear_error(echo_catalog, passthrough, closed_clients):
    gateway = await _gateway(echo_catalog)
    answer = await _received(gateway, x_tenant="acme\r\nx-injected: 1")
    assert answer["error"]["code"] == -32600
    assert "x-tenant header holds control characters" in answer["error"]["message"]


async def test_values_are_clamped_to_4_kb(echo_catalog, passthrough, closed_clients):
    gateway = await _gateway(echo_catalog)
    received = await _received(gateway, x_tenant="t" * (MAX_VALUE_BYTES + 500))
    assert received["x-tenant"] == "t" * MAX_VALUE_BYTES


async def test_two_clients_never_see_each_others_values(echo_catalog, passthrough, closed_clients):
    first, second = await _gateway(echo_catalog), await _gateway(echo_catalog)
    for _ in range(2):
        assert (await _received(first, x_tenant="first"))["x-tenant"] == "first"
        assert (await _received(second, x_tenant="second"))["x-tenant"] == "second"
        assert "x-tenant" not in await _received(second)


async def test_rest_tools_take_the_headers_per_request(echo_catalog, passthrough, closed_clients):
    gateway = await _gateway(echo_catalog)
    assert (await _received(gateway, "echo_api__echo_get", x_tenant="one"))["x-tenant"] == "one"
    assert (await _received(gateway, "echo_api__echo_get", x_tenant="two"))["x-tenant"] == "two"
    assert "x-tenant" not in await _received(gateway, "echo_api__echo_get")


def test_the_allowlist_refuses_forbidden_names(transactional_db, echo_upstream):
    owner = UserFactory()
    with pytest.raises(CatalogError, match="never passed"):
        catalog_services.upstream_create(owner=owner, name="bad", url=echo_upstream.url,
                                         header_passthrough=["Authorization"])


async def test_websocket_calls_forward_the_handshake_headers(echo_catalog, passthrough, closed_clients):
    from proxy.tests.streams import websocket

    communicator = websocket("/servers/echo/ws", echo_catalog["token"], subprotocols=["mcp"],
                             **{"x-tenant": "socket"})
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    try:
        for request_id, method, params in [
            (1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "tests", "version": "1"}}),
            (2, "tools/call", {"name": "echo__received_headers", "arguments": {}}),
        ]:
            await communicator.send_to(text_data=json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
            reply = json.loads(await communicator.receive_from(timeout=10))
        assert json.loads(reply["result"]["content"][0]["text"])["x-tenant"] == "socket"
    finally:
        await communicator.disconnect()


async def test_legacy_sse_calls_forward_the_stream_headers(echo_catalog, passthrough, closed_clients):
    from proxy.tests.streams import SseStream, post_path

    stream = SseStream("/servers/echo/sse", echo_catalog["token"], **{"x-tenant": "stream"})
    assert await stream.open() == 200
    try:
        poster = Gateway(post_path(await stream.endpoint()), echo_catalog["token"])
        initialize = {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        assert (await poster.send(poster.request("initialize", initialize)))["status"] == 202
        assert "result" in await stream.message()
        # The POST's own headers do not count: the stream's do.
        call = poster.request("tools/call", {"name": "echo__received_headers", "arguments": {}})
        assert (await poster.send(call, x_tenant="post"))["status"] == 202
        reply = await stream.message()
        assert json.loads(reply["result"]["content"][0]["text"])["x-tenant"] == "stream"
    finally:
        await stream.close()
