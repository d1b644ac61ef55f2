"""What upstreams send while answering, relayed to the right client: progress, log messages, server→client requests,
``input_required`` (both eras), list changes on standing streams, and resumption after a disconnect. Against the
real ASGI application and real upstream processes (the fixture upstream and the conformance fixture server)."""
from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from catalog import services as catalog_services
from catalog.models import Prompt, Tool, Upstream
from proxy.tests.conftest import Gateway
from proxy.tests.streams import SseStream
from tests.factories import UserFactory
from tokens import services as token_services

MODERN = "2026-07-28"
HANDSHAKE = "2025-06-18"


@pytest.fixture
def relays(transactional_db, conformance_upstream, upstream_process, closed_pool):
    """A server 'relays' over the conformance fixture twice (pooled as 'mrtr', bound per client session as 'bound')
    and the fixture upstream ('fixture'), with two tokens of its owner."""
    owner = UserFactory(email="relay-owner@example.com")
    tools, prompts = [], []
    for name, url, binding in (
        ("mrtr", conformance_upstream.url, Upstream.SessionBinding.POOLED),
        ("bound", conformance_upstream.url, Upstream.SessionBinding.CLIENT_SESSION),
        ("fixture", upstream_process.url, Upstream.SessionBinding.POOLED),
    ):
        upstream = catalog_services.upstream_create(
            owner=owner, name=name, url=url, timeout_seconds=10, session_binding=binding
        )
        assert catalog_services.upstream_discover(upstream=upstream).ok
        tools += [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
        prompts += [(prompt, "") for prompt in Prompt.objects.filter(upstream=upstream)]
    server = catalog_services.server_create(owner=owner, slug="relays", tools=tools, prompts=prompts)
    _, token = token_services.token_create(user=owner, name="relays")
    _, other_token = token_services.token_create(user=owner, name="relays-2")
    return {"owner": owner, "server": server, "token": token, "other_token": other_token}


def _modern(gateway: Gateway, name: str, capabilities: dict, **params) -> dict:
    request = gateway.request("tools/call", {
        "name": name, "arguments": {}, **params,
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                  "io.modelcontextprotocol/clientCapabilities": capabilities},
    })
    return request


async def _send_modern(gateway: Gateway, request: dict) -> dict:
    return await gateway.send(request, mcp_protocol_version=MODERN, mcp_method="tools/call",
                              mcp_name=request["params"]["name"])


async def _handshake(token: str, capabilities: dict) -> Gateway:
    gateway = Gateway("/servers/relays/mcp", token)
    response = await gateway.send(gateway.request("initialize", {
        "protocolVersion": HANDSHAKE, "capabilities": capabilities, "clientInfo": {"name": "tests", "version": "1"},
    }))
    gateway.session_id = response["headers"]["mcp-session-id"]
    return gateway


async def _streamed_call(gateway: Gateway, name: str, arguments: dict, **meta) -> SseStream:
    """A tools/call POSTed by a client that accepts SSE; the returned stream is read event by event."""
    request = gateway.request("tools/call", {"name": name, "arguments": arguments, **({"_meta": meta} if meta else {})})
    stream = SseStream("/servers/relays/mcp", gateway.token, method="POST", **{
        "accept": "application/json, text/event-stream", "content-type": "application/json",
        "mcp-session-id": gateway.session_id,
    })
    assert await stream.open(json.dumps(request).encode()) == 200
    return stream


# Stateless clients: input_required passed through with Gatehouse's own sealed state.

async def test_stateless_client_gets_input_required_with_a_state_sealed_by_gatehouse(relays):
    gateway = Gateway("/servers/relays/mcp", relays["token"])
    first = await _send_modern(gateway, _modern(gateway, "mrtr__test_input_required_result_tampered_state",
                                                {"elicitation": {}}))
    result = first["json"]["result"]
    assert result["resultType"] == "input_required"
    assert set(result["inputRequests"]) == {"confirm"}
    # The upstream's own state ("signed") never reaches the client.
    assert "signed" not in result["requestState"]
    retry = _modern(gateway, "mrtr__test_input_required_result_tampered_state", {"elicitation": {}},
                    inputResponses={"confirm": {"action": "accept", "content": {"ok": True}}},
                    requestState=result["requestState"])
    final = (await _send_modern(gateway, retry))["json"]["result"]
    assert final["resultType"] == "complete"
    assert final["content"][0]["text"] == "state verified"


@pytest.mark.parametrize("spoil", ["tampered", "replayed", "other-token", "other-tool"])
async def test_request_state_is_refused_unless_genuine_fresh_and_for_this_request(relays, spoil):
    gateway = Gateway("/servers/relays/mcp", relays["token"])
    name = "mrtr__test_input_required_result_tampered_state"
    first = await _send_modern(gateway, _modern(gateway, name, {"elicitation": {}}))
    state = first["json"]["result"]["requestState"]
    answers = {"confirm": {"action": "accept", "content": {"ok": True}}}
    if spoil == "tampered":
        state = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    elif spoil == "replayed":
        retry = _modern(gateway, name, {"elicitation": {}}, inputResponses=answers, requestState=state)
        assert (await _send_modern(gateway, retry))["json"]["result"]["resultType"] == "complete"
    elif spoil == "other-token":
        gateway = Gateway("/servers/relays/mcp", relays["other_token"])
    elif spoil == "other-tool":
        name = "mrtr__test_input_required_result_elicitation"
    retry = _modern(gateway, name, {"elicitation": {}}, inputResponses=answers, requestState=state)
    response = await _send_modern(gateway, retry)
    assert response["json"]["error"]["code"] == -32602
    assert "requestState" in response["json"]["error"]["message"]


async def test_upstream_asks_a_stateless_client_only_what_it_declared(relays):
    gateway = Gateway("/servers/relays/mcp", relays["token"])
    response = await _send_modern(gateway, _modern(gateway, "mrtr__test_input_required_result_capabilities",
                                                   {"sampling": {}}))
    requests = response["json"]["result"]["inputRequests"]
    assert [request["method"] for request in requests.values()] == ["sampling/createMessage"]


async def test_handshake_only_methods_are_unknown_to_stateless_clients(relays):
    gateway = Gateway("/servers/relays/mcp", relays["token"])
    request = gateway.request("logging/setLevel", {
        "level": "info", "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                                   "io.modelcontextprotocol/clientCapabilities": {}},
    })
    response = await gateway.send(request, mcp_protocol_version=MODERN, mcp_method="logging/setLevel")
    assert response["status"] == 404
    assert response["json"]["error"]["code"] == -32601


# Handshake-era clients: relays on the call's own SSE response.

async def test_handshake_client_is_asked_the_input_a_pooled_modern_upstream_needs(relays):
    gateway = await _handshake(relays["token"], {"elicitation": {}})
    stream = await _streamed_call(gateway, "mrtr__test_input_required_result_elicitation", {})
    ask = await stream.message()
    assert ask["method"] == "elicitation/create"
    assert ask["id"].startswith("gatehouse-")
    answer = {"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"name": "Ada"}}}
    assert (await gateway.send(answer))["status"] == 202
    result = await stream.message()
    assert result["result"]["content"][0]["text"] == "Hello, Ada!"
    await stream.wait_for_end()


async def test_answer_from_another_session_does_not_reach_the_request(relays):
    gateway = await _handshake(relays["token"], {"elicitation": {}})
    intruder = await _handshake(relays["token"], {"elicitation": {}})
    stream = await _streamed_call(gateway, "mrtr__test_input_required_result_elicitation", {})
    ask = await stream.message()
    forged = {"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"name": "Mallory"}}}
    await intruder.send(forged)
    assert await stream.quiet(0.5)
    await gateway.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"name": "Ada"}}})
    assert (await stream.message())["result"]["content"][0]["text"] == "Hello, Ada!"


async def test_progress_is_relayed_under_the_clients_own_token(relays):
    gateway = await _handshake(relays["token"], {})
    stream = await _streamed_call(gateway, "fixture__slow", {"seconds": 0.2}, progressToken="mine-1")
    messages = [await stream.message() for _ in range(5)]
    progress = [m["params"] for m in messages if m.get("method") == "notifications/progress"]
    assert [p["progressToken"] for p in progress] == ["mine-1"] * 4
    assert [p["progress"] for p in progress] == [0, 1, 2, 3]
    assert messages[-1]["result"]["content"][0]["text"] == "slept 0.2"
    assert stream.last_event_id is not None


async def test_json_only_client_gets_one_json_answer_without_progress(relays):
    gateway = await _handshake(relays["token"], {})
    request = gateway.request("tools/call", {"name": "fixture__slow", "arguments": {"seconds": 0.1},
                                             "_meta": {"progressToken": 7}})
    response = await gateway.send(request, accept="application/json")
    assert response["headers"]["content-type"] == "application/json"
    assert response["json"]["result"]["content"][0]["text"] == "slept 0.1"


async def test_bound_upstream_relays_sampling_to_the_client_that_caused_it(relays):
    gateway = await _handshake(relays["token"], {"sampling": {}})
    stream = await _streamed_call(gateway, "bound__test_sampling", {"prompt": "Capital of France?"})
    ask = await stream.message()
    assert ask["method"] == "sampling/createMessage"
    assert ask["params"]["messages"][0]["content"]["text"] == "Capital of France?"
    await gateway.send({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "test-model",
    }})
    assert (await stream.message())["result"]["content"][0]["text"] == "LLM response: Paris"


async def test_bound_upstream_does_not_ask_a_client_that_cannot_answer(relays):
    gateway = await _handshake(relays["token"], {})
    response = await gateway.send(gateway.request("tools/call", {"name": "bound__test_sampling",
                                                                 "arguments": {"prompt": "x"}}))
    result = response["json"]
    # The upstream was told the client cannot sample, so the tool fails as the upstream decides, without hanging.
    assert "error" in result or result["result"].get("isError")


async def test_bound_upstream_relays_log_messages_above_the_sessions_level(relays):
    gateway = await _handshake(relays["token"], {})
    assert (await gateway.send(gateway.request("logging/setLevel", {"level": "info"})))["json"]["result"] == {}
    stream = await _streamed_call(gateway, "bound__test_tool_with_logging", {})
    messages = [await stream.message() for _ in range(4)]
    logs = [m["params"] for m in messages if m.get("method") == "notifications/message"]
    assert [log["data"] for log in logs] == [
        "Tool execution started", "Tool processing data", "Tool execution completed",
    ]
    assert messages[-1]["result"]["content"][0]["text"] == "Logging test completed"

    await gateway.send(gateway.request("logging/setLevel", {"level": "error"}))
    quiet = await gateway.send(gateway.request("tools/call", {"name": "bound__test_tool_with_logging", "arguments": {}}))
    assert quiet["headers"]["content-type"] == "application/json"


async def test_pooled_upstream_relays_log_messages_above_the_sessions_level(relays):
    # 'mrtr' is a shared session to a 2026-07-28 upstream: its calls go out as plain POSTs (proxy.upstream.stateless).
    gateway = await _handshake(relays["token"], {})
    assert (await gateway.send(gateway.request("logging/setLevel", {"level": "info"})))["json"]["result"] == {}
    stream = await _streamed_call(gateway, "mrtr__test_tool_with_logging", {})
    messages = [await stream.message() for _ in range(4)]
    assert [(m["method"], m["params"]["level"], m["params"]["data"]) for m in messages[:3]] == [
        ("notifications/message", "info", data)
        for data in ("Tool execution started", "Tool processing data", "Tool execution completed")
    ]
    assert messages[-1]["result"]["content"][0]["text"] == "Logging test completed"

    await gateway.send(gateway.request("logging/setLevel", {"level": "error"}))
    quiet = await gateway.send(gateway.request("tools/call", {"name": "mrtr__test_tool_with_logging", "arguments": {}}))
    assert quiet["headers"]["content-type"] == "application/json"
    assert quiet["json"]["result"]["content"][0]["text"] == "Logging test completed"


def _sse_messages(body: bytes) -> list[dict]:
    return [
        json.loads(line[len("data: "):])
        for event in body.decode().split("\n\n") for line in event.split("\n") if line.startswith("data: ")
    ]


@pytest.mark.parametrize("log_level", ["info", "error", None])
async def test_stateless_client_gets_the_log_messages_its_request_asks_for(relays, log_level):
    gateway = Gateway("/servers/relays/mcp", relays["token"])
    request = _modern(gateway, "mrtr__test_tool_with_logging", {})
    if log_level is not None:
        request["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = log_level
    response = await _send_modern(gateway, request)
    messages = _sse_messages(response["body"]) if response["json"] is None else [response["json"]]
    logs = [m["params"]["data"] for m in messages if m.get("method") == "notifications/message"]
    assert logs == (["Tool execution started", "Tool processing data", "Tool execution completed"]
                    if log_level == "info" else [])
    assert messages[-1]["result"]["content"][0]["text"] == "Logging test completed"


async def test_invalid_log_level_is_invalid_params(relays):
    gateway = await _handshake(relays["token"], {})
    response = await gateway.send(gateway.request("logging/setLevel", {"level": "loud"}))
    assert response["json"]["error"]["code"] == -32602


# Standing GET streams and resumption.

async def test_get_stream_announces_a_tool_list_change(relays):
    gateway = await _handshake(relays["token"], {})
    with override_settings(GATEHOUSE_LIST_CHANGED_SECONDS=0.2):
        stream = SseStream("/servers/relays/mcp", relays["token"], **{"mcp-session-id": gateway.session_id})
        assert await stream.open() == 200
        await asyncio.sleep(0.5)
        tool = await sync_to_async(Tool.objects.get)(upstream__name="fixture", original_name="echo")
        await sync_to_async(catalog_services.catalog_entry_update)(entry=tool, actor=relays["owner"], enabled=False)
        assert (await stream.message(timeout=10)) == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
        await stream.close()


async def test_response_stream_resumes_after_a_disconnect_with_last_event_id(relays):
    gateway = await _handshake(relays["token"], {})
    stream = await _streamed_call(gateway, "fixture__slow", {"seconds": 1.0}, progressToken="resume-1")
    first = await stream.message()
    assert first["params"]["progress"] == 0
    seen = stream.last_event_id
    await stream.close()

    resumed = SseStream("/servers/relays/mcp", relays["token"], **{
        "mcp-session-id": gateway.session_id, "last-event-id": seen,
    })
    assert await resumed.open() == 200
    rest = []
    while not rest or "result" not in rest[-1]:
        rest.append(await resumed.message(timeout=10))
    assert [m["params"]["progress"] for m in rest[:-1]] == [1, 2, 3]
    assert rest[-1]["result"]["content"][0]["text"] == "slept 1.0"
    await resumed.wait_for_end()



async def test_bound_upstream_session_closes_soon_after_its_client_session_ends_on_another_process(
    relays, monkeypatch,
):
    """A DELETE that reached another process only leaves the shared 'ended' mark (proxy.sessions.session_end); the
    process holding the bound upstream session notices it and closes that session, long before its idle limit."""
    from proxy import sessions
    from proxy.upstream import pool as pool_module

    monkeypatch.setattr(pool_module, "ENDED_CHECK_SECONDS", 0.1)
    gateway = await _handshake(relays["token"], {})
    response = await gateway.send(gateway.request("tools/call", {"name": "bound__test_simple_text", "arguments": {}}))
    assert "result" in response["json"]
    pool = pool_module.upstream_pool()
    bound = [key for key in pool._sessions if pool.bound_session(key) is not None]
    assert len(bound) == 1
    session = sessions.session_resolve(
        gateway.session_id, principal=(await _principal(relays["token"])), server_slug="relays",
    )
    sessions.session_end(session)  # what the other process's DELETE does; nothing else reaches this process
    async with asyncio.timeout(5):
        while pool.bound_session(bound[0]) is not None:
            await asyncio.sleep(0.05)


async def _principal(token: str):
    from proxy.protocol.access import authenticate

    principal, _ = await authenticate(f"Bearer {token}", server_slug="relays")
    return principal
