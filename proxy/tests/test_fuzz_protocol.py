"""Hypothesis throws arbitrary and near-valid JSON-RPC at the protocol layer (the plain async functions the consumers
call) and, with fewer examples, at the real ASGI app: every case ends within its timeout with a well-formed JSON-RPC
result or error, never a 5xx or an escaped exception, and the gateway still answers afterwards."""
from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from proxy.protocol import streamable
from proxy.protocol.jsonrpc import JsonRpcError, parse_message
from proxy.protocol.replies import McpRequest
from proxy.protocol.session_messages import conversation_open, message_reply
from proxy.tests.fuzzing import assert_well_formed, bodies, cases, examples, near_valid

# The protocol layer does not depend on the database: fuzzed once, in the embedded-defaults pass of CI.
pytestmark = pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="runs once, in the embedded-defaults pass")

# Long enough for a real upstream round trip on a loaded machine; a hang fails the case instead of the suite.
CASE_TIMEOUT = 15


def _request(gateway, body: bytes, extra: dict[str, str]) -> McpRequest:
    request_headers = {"host": "127.0.0.1:8000", "authorization": f"Bearer {gateway.token}", **extra}
    if request_headers.get("mcp-session-id") == "<valid>":
        request_headers["mcp-session-id"] = gateway.session_id
    return McpRequest("demo", request_headers, body)


async def _healthy(gateway) -> None:
    """A fresh session still lists tools and calls one through the upstream (a fuzz case may have ended the old)."""
    gateway.session_id = None
    await gateway.initialize()
    listing = await streamable.post(_request(gateway, b'{"jsonrpc":"2.0","id":"h","method":"tools/list"}',
                                             {"mcp-session-id": "<valid>"}))
    assert listing.status == 200 and listing.message["result"]["tools"], listing
    call = (b'{"jsonrpc":"2.0","id":"c","method":"tools/call",'
            b'"params":{"name":"fixture__echo","arguments":{"text":"ok"}}}')
    reply = await streamable.post(_request(gateway, call, {"mcp-session-id": "<valid>"}))
    assert reply.message["result"]["content"] == [{"type": "text", "text": "ok"}], reply


@pytest.fixture
async def fuzzed_gateway(gateway):
    yield gateway
    await _healthy(gateway)


@settings(settings.get_profile("gatehouse"), max_examples=examples(1200))
@given(case=cases)
async def test_streamable_post_answers_every_message_with_json_rpc(fuzzed_gateway, case):
    gateway, (body, extra) = fuzzed_gateway, case
    if gateway.session_id is None:
        await gateway.initialize()
    reply = await asyncio.wait_for(streamable.post(_request(gateway, body, extra)), CASE_TIMEOUT)
    assert_well_formed(reply.message, status=reply.status)
    event(f"{reply.status} {(reply.message or {}).get('error', {}).get('code', 'result')}")


@settings(settings.get_profile("gatehouse"), max_examples=examples(500))
@given(bodies=st.lists(st.one_of(bodies, near_valid().map(lambda case: case[0])), min_size=1, max_size=4))
async def test_connection_bound_session_answers_every_message_with_json_rpc(fuzzed_gateway, bodies):
    gateway = fuzzed_gateway
    """The WebSocket/legacy SSE path: one conversation, several messages, each parsed then answered."""
    conversation = await conversation_open(server_slug="demo", authorization=f"Bearer {gateway.token}",
                                           endpoint="ws")
    for body in bodies:
        try:
            message = parse_message(body)
        except JsonRpcError as exc:
            assert exc.http_status == 400
            continue
        reply = await asyncio.wait_for(message_reply(conversation, message), CASE_TIMEOUT)
        if reply is not None:
            assert_well_formed(reply, status=200)


@settings(settings.get_profile("gatehouse"), max_examples=examples(250))
@given(case=cases, http_method=st.sampled_from(("POST", "POST", "POST", "GET", "DELETE", "PUT")))
async def test_asgi_app_answers_every_message_with_json_rpc(fuzzed_gateway, case, http_method):
    gateway, body, extra = fuzzed_gateway, case[0], dict(case[1])
    if gateway.session_id is None:
        await gateway.initialize()
    if extra.get("mcp-session-id") == "<valid>":
        extra["mcp-session-id"] = gateway.session_id
    session_id, gateway.session_id = gateway.session_id, None
    try:
        if http_method == "GET" and extra.get("mcp-session-id") == session_id:
            # A GET that names a live session opens its standing stream, which stays open by design: ask for JSON
            # instead, which must be refused (406) rather than hang.
            extra["accept"] = "application/json"
        response = await asyncio.wait_for(gateway.send(body, method=http_method, **extra), CASE_TIMEOUT)
    finally:
        gateway.session_id = session_id
    status = response["status"]
    assert status < 500, response
    if response["headers"].get("content-type") == "application/json":
        assert_well_formed(response["json"], status=status)
    elif response["headers"].get("content-type") == "text/event-stream":
        assert b"data: " in response["body"]
    else:
        assert response["body"] == b"" and status in (202, 204, 405), response
