"""MCP over WebSocket against the real ASGI application and a real upstream process."""
from __future__ import annotations

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from proxy.tests.streams import websocket
from proxy.transports.websocket import handshake_authorization
from tests.factories import UserFactory
from tokens import services as token_services

INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}


class Socket:
    """A connected WebSocket speaking JSON-RPC text frames."""

    def __init__(self, communicator) -> None:
        self.communicator = communicator
        self._id = 0

    def request(self, method: str, params: dict | None = None) -> dict:
        self._id += 1
        message = {"jsonrpc": "2.0", "id": self._id, "method": method}
        return message if params is None else {**message, "params": params}

    async def send(self, message: dict) -> dict:
        await self.communicator.send_to(text_data=json.dumps(message))
        return message

    async def receive(self) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=10))

    async def call(self, method: str, params: dict | None = None) -> dict:
        request = await self.send(self.request(method, params))
        reply = await self.receive()
        assert reply["id"] == request["id"]
        return reply

    async def closed_with(self) -> int:
        message = await self.communicator.receive_output(timeout=10)
        assert message["type"] == "websocket.close"
        return message.get("code", 1000)


@pytest.fixture
async def socket(catalog, closed_pool):
    communicator = websocket("/servers/demo/ws", catalog["token"], subprotocols=["mcp"])
    connected, subprotocol = await communicator.connect(timeout=10)
    assert connected and subprotocol == "mcp"
    yield Socket(communicator)
    await communicator.disconnect()


async def _initialized(socket: Socket) -> Socket:
    assert "result" in await socket.call("initialize", INITIALIZE)
    await socket.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return socket


async def test_initialize_negotiates_the_version(socket):
    result = (await socket.call("initialize", INITIALIZE))["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["serverInfo"]["name"] == "gatehouse"


async def test_tools_list_and_call_through_the_upstream(socket):
    await _initialized(socket)
    names = [tool["name"] for tool in (await socket.call("tools/list"))["result"]["tools"]]
    assert names == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]
    result = (await socket.call("tools/call", {"name": "fixture__add", "arguments": {"a": 2, "b": 40}}))["result"]
    assert result["structuredContent"] == {"result": 42}
    assert "resultType" not in result


async def test_slow_call_does_not_hold_up_a_ping(socket):
    await _initialized(socket)
    slow = await socket.send(socket.request("tools/call", {"name": "fixture__slow", "arguments": {"seconds": 1.5}}))
    ping = await socket.send(socket.request("ping"))
    assert (await socket.receive())["id"] == ping["id"]
    assert (await socket.receive())["id"] == slow["id"]


async def test_request_before_initialize_is_a_jsonrpc_error(socket):
    error = (await socket.call("tools/list"))["error"]
    assert error["code"] == -32600
    assert "initialize" in error["message"]


async def test_second_initialize_is_refused(socket):
    await _initialized(socket)
    assert (await socket.call("initialize", INITIALIZE))["error"]["code"] == -32600


async def test_unknown_tool_is_invalid_params(socket):
    await _initialized(socket)
    assert (await socket.call("tools/call", {"name": "nope", "arguments": {}}))["error"] == {
        "code": -32602, "message": "Unknown tool: nope",
    }


async def test_invalid_json_gets_a_parse_error_frame_and_the_socket_stays_open(socket):
    await socket.communicator.send_to(text_data="{not json")
    reply = await socket.receive()
    assert reply["id"] is None
    assert reply["error"]["code"] == -32700
    assert "result" in await socket.call("ping")


async def test_batch_gets_an_invalid_request_frame(socket):
    await socket.communicator.send_to(text_data=json.dumps([socket.request("ping"), socket.request("ping")]))
    assert (await socket.receive())["error"]["code"] == -32600


async def test_binary_frame_closes_with_1003(socket):
    await socket.communicator.send_to(bytes_data=b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}')
    assert await socket.closed_with() == 1003


async def test_frame_over_the_cap_closes_with_1009(socket):
    with override_settings(GATEHOUSE_MCP_MAX_BODY_BYTES=1024):
        await socket.send(socket.request("ping", {"padding": "x" * 2048}))
        assert await socket.closed_with() == 1009


async def test_multibyte_frame_over_the_cap_in_bytes_closes_with_1009(socket):
    with override_settings(GATEHOUSE_MCP_MAX_BODY_BYTES=1024):
        await socket.send(socket.request("ping", {"padding": "é" * 600}))
        assert await socket.closed_with() == 1009


async def test_revoked_token_closes_the_socket(socket, catalog):
    from tokens.models import ApiToken

    await _initialized(socket)
    token = await ApiToken.objects.aget(user=catalog["owner"])
    await sync_to_async(token_services.token_revoke)(token=token, actor=catalog["owner"])
    await socket.send(socket.request("ping"))
    assert await socket.closed_with() == 1008


async def test_subprotocol_is_not_chosen_when_not_offered(catalog, closed_pool):
    communicator = websocket("/servers/demo/ws", catalog["token"])
    assert await communicator.connect(timeout=10) == (True, None)
    await communicator.disconnect()


async def test_token_in_a_bearer_subprotocol_is_accepted_and_never_echoed(catalog, closed_pool):
    communicator = websocket("/servers/demo/ws", subprotocols=["mcp", f"bearer.{catalog['token']}"])
    assert await communicator.connect(timeout=10) == (True, "mcp")
    reply = Socket(communicator)
    assert "result" in await reply.call("initialize", INITIALIZE)
    await communicator.disconnect()


async def test_aggregate_socket_lists_every_tool_the_caller_may_use(catalog, closed_pool):
    communicator = websocket("/ws", catalog["token"], subprotocols=["mcp"])
    assert (await communicator.connect(timeout=10))[0]
    socket = await _initialized(Socket(communicator))
    names = {tool["name"] for tool in (await socket.call("tools/list"))["result"]["tools"]}
    assert {"fixture__echo", "fixture__add"} <= names
    await communicator.disconnect()


async def _refused(path: str, token: str | None, caplog, *, subprotocols=None, **headers: str) -> str:
    """Open a WebSocket that must be refused at the handshake; returns the reason Gatehouse logged."""
    communicator = websocket(path, token, subprotocols=subprotocols or ["mcp"], **headers)
    with caplog.at_level(logging.INFO, logger="proxy.transports.websocket"):
        connected, _ = await communicator.connect(timeout=10)
    assert connected is False
    return caplog.text


async def test_no_token_is_refused(catalog, closed_pool, caplog):
    assert "Unauthorized" in await _refused("/servers/demo/ws", None, caplog)


async def test_two_credentials_are_refused(catalog, closed_pool, caplog):
    both = ["mcp", f"bearer.{catalog['token']}"]
    assert "Unauthorized" in await _refused("/servers/demo/ws", catalog["token"], caplog, subprotocols=both)


async def test_foreign_origin_is_refused(catalog, closed_pool, caplog):
    reason = await _refused("/servers/demo/ws", catalog["token"], caplog, origin="http://evil.example.com")
    assert "Origin is not allowed" in reason


async def test_foreign_host_is_refused(catalog, closed_pool, caplog):
    reason = await _refused("/servers/demo/ws", catalog["token"], caplog, host="evil.example.com")
    assert "Origin is not allowed" in reason


async def test_unknown_server_is_refused(catalog, closed_pool, caplog):
    assert "Unknown server: nope" in await _refused("/servers/nope/ws", catalog["token"], caplog)


async def test_another_users_server_is_unknown(catalog, closed_pool, caplog):
    stranger = await sync_to_async(
        lambda: token_services.token_create(user=UserFactory(email="ws-stranger@example.com"), name="x")[1]
    )()
    assert "Unknown server: demo" in await _refused("/servers/demo/ws", stranger, caplog)


async def test_server_restricted_token_cannot_use_the_aggregate_socket(catalog, closed_pool, caplog):
    restricted = await sync_to_async(
        lambda: token_services.token_create(user=catalog["owner"], name="demo-only", servers=[catalog["server"]])[1]
    )()
    assert "/servers/<slug>/ws" in await _refused("/ws", restricted, caplog)


async def test_unknown_path_is_refused(catalog, closed_pool):
    communicator = websocket("/somewhere/else", catalog["token"])
    assert (await communicator.connect(timeout=10))[0] is False


@pytest.mark.parametrize(
    ("headers", "subprotocols", "expected"),
    [
        ({"authorization": "Bearer gth_a"}, ["mcp"], "Bearer gth_a"),
        ({}, ["mcp", "bearer.gth_b"], "Bearer gth_b"),
        ({}, ["mcp"], None),
        ({"authorization": "Bearer gth_a"}, ["bearer.gth_b"], None),
        ({}, ["bearer.gth_a", "bearer.gth_b"], None),
    ],
    ids=["header", "subprotocol", "none", "header-and-subprotocol", "two-subprotocols"],
)
def test_handshake_authorization_takes_exactly_one_credential(headers, subprotocols, expected):
    assert handshake_authorization(headers, subprotocols) == expected
