"""Calls to a 2026-07-28 upstream go out as plain POSTs once it is discovered (proxy.upstream.stateless).

The upstream here is a small aiohttp server that speaks the stateless era well enough to be discovered, then
answers each tool by its name: well, or in one of the ways an upstream can go wrong. Every wrong answer gets a
JSON-RPC error naming the upstream, and the next call works.
"""
from __future__ import annotations

import json

import pytest
from aiohttp import web
from asgiref.sync import sync_to_async
from django.test import override_settings

from catalog import services as catalog_services
from catalog.models import Tool
from config.egress import EgressRefused, GuardedResolver
from proxy.tests.conftest import Gateway
from tests.factories import UserFactory
from tests.processes import free_port
from tokens import services as token_services

pytestmark = pytest.mark.django_db(transaction=True)

MODERN = "2026-07-28"
TOOLS = ["echo", "not_json", "other_id", "cut_short", "huge", "refused", "crash", "redirect"]


class FakeUpstream:
    """Discoverable in the stateless era; records what each tools/call carried."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], dict]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        message = await request.json()
        method, params, request_id = message["method"], message.get("params") or {}, message.get("id")
        if method == "server/discover":
            return _reply(request_id, {
                "supportedVersions": [MODERN], "capabilities": {"tools": {}}, "resultType": "complete",
                "ttlMs": 0, "cacheScope": "public",
                "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "fake", "version": "1"}},
            })
        if method == "tools/list":
            tools = [{"name": name, "inputSchema": {"type": "object"}} for name in TOOLS]
            return _reply(request_id, {"tools": tools, "resultType": "complete", "ttlMs": 0, "cacheScope": "public"})
        if method != "tools/call":
            return web.json_response(
                {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "Method not found"}},
                status=404,
            )
        self.calls.append(({name.lower(): value for name, value in request.headers.items()}, params))
        return await self.tool(request, params["name"], request_id, params)

    async def tool(self, request: web.Request, name: str, request_id: int, params: dict) -> web.StreamResponse:
        text = {"content": [{"type": "text", "text": "ok"}], "resultType": "complete"}
        if name == "echo":
            stream = await _stream(request)
            token = (params.get("_meta") or {}).get("progressToken")
            if token is not None:
                await _event(stream, {"jsonrpc": "2.0", "method": "notifications/progress",
                                      "params": {"progressToken": token, "progress": 1, "total": 2}})
            await _event(stream, {"jsonrpc": "2.0", "id": request_id, "result": text})
            return stream
        if name == "not_json":
            return web.Response(text="not json {", content_type="application/json")
        if name == "other_id":
            return _reply(request_id + 1000, text)
        if name == "cut_short":
            stream = await _stream(request)
            await _event(stream, {"jsonrpc": "2.0", "method": "notifications/message",
                                  "params": {"level": "info", "data": "working"}})
            return stream
        if name == "huge":
            return _reply(request_id, {"content": [{"type": "text", "text": "x" * (3 * 1024 * 1024 + 1)}]})
        if name == "refused":
            error = {"code": -32602, "message": "Region 'mars' is not served."}
            return web.json_response({"jsonrpc": "2.0", "id": request_id, "error": error}, status=400)
        if name == "crash":
            return web.Response(text="Internal Server Error", status=500)
        raise web.HTTPTemporaryRedirect("http://169.254.169.254/latest/meta-data/")


def _reply(request_id: int, result: dict) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})


async def _stream(request: web.Request) -> web.StreamResponse:
    stream = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await stream.prepare(request)
    return stream


async def _event(stream: web.StreamResponse, message: dict) -> None:
    await stream.write(f"event: message\ndata: {json.dumps(message)}\n\n".encode())


@pytest.fixture
async def fake(closed_pool):
    upstream = FakeUpstream()
    app = web.Application()
    app.router.add_post("/mcp", upstream.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    upstream.url = f"http://127.0.0.1:{port}/mcp"
    upstream.token = await sync_to_async(_catalog)(upstream.url)
    yield upstream
    await runner.cleanup()


def _catalog(url: str) -> str:
    owner = UserFactory(email="stateless@example.com")
    upstream = catalog_services.upstream_create(owner=owner, name="fake", url=url, timeout_seconds=5)
    assert catalog_services.upstream_discover(upstream=upstream).ok
    tools = [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    catalog_services.server_create(owner=owner, slug="stateless", tools=tools)
    return token_services.token_create(user=owner, name="stateless")[1]


async def _call(gateway: Gateway, tool: str, **meta) -> dict:
    params = {"name": f"fake__{tool}", "arguments": {}, **({"_meta": meta} if meta else {})}
    return await gateway.send(gateway.request("tools/call", params))


def _messages(response: dict) -> list[dict]:
    """The JSON-RPC messages of an answer: one JSON body, or the events of an SSE stream."""
    if response["json"] is not None:
        return [response["json"]]
    return [json.loads(line[len("data: "):]) for line in response["body"].decode().splitlines()
            if line.startswith("data: ")]


async def _gateway(token: str) -> Gateway:
    gateway = Gateway("/servers/stateless/mcp", token)
    await gateway.initialize()
    return gateway


async def test_call_carries_the_stateless_envelope_and_not_the_clients_token(fake):
    gateway = await _gateway(fake.token)
    response = await _call(gateway, "echo")
    assert response["json"]["result"]["content"] == [{"type": "text", "text": "ok"}]
    headers, params = fake.calls[-1]
    assert headers["mcp-protocol-version"] == MODERN
    assert headers["mcp-method"] == "tools/call"
    assert headers["mcp-name"] == "echo"
    assert headers["via"].startswith("1.1 ")
    assert "authorization" not in headers
    assert params["_meta"]["io.modelcontextprotocol/protocolVersion"] == MODERN
    assert params["_meta"]["io.modelcontextprotocol/clientInfo"]["name"] == "gatehouse"
    assert params["_meta"]["io.modelcontextprotocol/clientCapabilities"] == {}
    assert "progressToken" not in params["_meta"]


async def test_progress_comes_back_under_the_clients_token(fake):
    gateway = await _gateway(fake.token)
    response = await _call(gateway, "echo", progressToken="mine")
    assert response["headers"]["content-type"].startswith("text/event-stream")
    messages = _messages(response)
    assert messages[0]["params"] == {"progressToken": "mine", "progress": 1, "total": 2}
    assert messages[-1]["result"]["content"][0]["text"] == "ok"
    # The upstream saw Gatehouse's own token, not the client's.
    assert fake.calls[-1][1]["_meta"]["progressToken"] != "mine"


@pytest.mark.parametrize(("tool", "code", "message"), [
    ("not_json", -32700, "Upstream 'fake': The upstream sent a message that is not JSON."),
    ("other_id", -32603, "Upstream 'fake': The upstream answered with something other than this request's response."),
    ("cut_short", -32603, "Upstream 'fake': The upstream closed its answer before the result."),
    ("refused", -32602, "Upstream 'fake': Region 'mars' is not served."),
    ("crash", -32603, "Upstream 'fake': Server returned an error response (500)"),
    ("redirect", -32600, "Upstream 'fake': The upstream answered a request with a redirect (307), not followed."),
])
async def test_a_wrong_answer_is_an_error_naming_the_upstream_and_the_next_call_works(fake, tool, code, message):
    gateway = await _gateway(fake.token)
    # What came before the error still reaches the client (cut_short logs a message, then ends its stream).
    *before, answer = _messages(await _call(gateway, tool))
    assert [m["params"]["data"] for m in before] == (["working"] if tool == "cut_short" else [])
    error = answer["error"]
    assert (error["code"], error["message"]) == (code, message)
    assert (await _call(gateway, "echo"))["json"]["result"]["content"][0]["text"] == "ok"


@override_settings(GATEHOUSE_MAX_RESULT_BYTES=1024 * 1024)
async def test_an_answer_past_the_read_limit_is_not_read_to_its_end(fake):
    gateway = await _gateway(fake.token)
    error = (await _call(gateway, "huge"))["json"]["error"]
    assert error["code"] == -32013
    assert error["data"] == {"limit": 3 * 1024 * 1024}
    assert (await _call(gateway, "echo"))["json"]["result"]["content"][0]["text"] == "ok"


async def test_egress_guard_applies_to_every_post_not_only_to_discovery(fake):
    gateway = await _gateway(fake.token)
    assert "result" in (await _call(gateway, "echo"))["json"]
    calls = len(fake.calls)
    with override_settings(GATEHOUSE_EGRESS_ALLOW=()):
        error = (await _call(gateway, "echo"))["json"]["error"]
    assert error["message"] == "Upstream 'fake' is unavailable."
    assert len(fake.calls) == calls


@override_settings(GATEHOUSE_EGRESS_ALLOW=())
async def test_guarded_resolver_refuses_a_name_that_resolves_to_loopback():
    with pytest.raises(EgressRefused, match="loopback"):
        await GuardedResolver().resolve("localhost", 80)
