"""Streamable HTTP, handshake era, against the real ASGI application and a real upstream process."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from proxy.tests.conftest import queries_in_every_thread
from tokens import services as token_services
from tests.factories import UserFactory


async def test_initialize_issues_a_session_and_negotiates_the_version(gateway):
    response = await gateway.initialize()
    assert response["status"] == 200
    assert response["json"]["result"]["protocolVersion"] == "2025-06-18"
    assert response["json"]["result"]["capabilities"]["tools"] == {"listChanged": True}
    assert gateway.session_id and gateway.session_id.isascii() and gateway.session_id.isprintable()


async def test_unsupported_requested_version_gets_the_latest_handshake_version(gateway):
    response = await gateway.send(gateway.request("initialize", {"protocolVersion": "1999-01-01", "capabilities": {}}))
    assert response["json"]["result"]["protocolVersion"] == "2025-11-25"


async def test_tools_call_relays_the_upstream_result_without_modern_fields(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "hi"}}))
    result = response["json"]["result"]
    assert result["content"] == [{"type": "text", "text": "hi"}]
    assert result["structuredContent"] == {"result": "hi"}
    assert "resultType" not in result
    assert "io.modelcontextprotocol/serverInfo" not in result.get("_meta", {})


async def test_event_stream_only_client_gets_an_sse_response(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("ping"), accept="text/event-stream")
    assert response["headers"]["content-type"] == "text/event-stream"
    assert response["headers"]["x-accel-buffering"] == "no"
    event, data = response["body"].decode().strip().split("\n")
    assert event == "event: message"
    assert json.loads(data.removeprefix("data: "))["result"] == {}


async def test_malformed_json_is_parse_error(gateway):
    response = await gateway.send(b"{not json")
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32700


async def test_batch_is_rejected(gateway):
    await gateway.initialize()
    response = await gateway.send([gateway.request("ping"), gateway.request("ping")])
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32600
    assert "Batch" in response["json"]["error"]["message"]


async def test_request_without_jsonrpc_version_is_invalid_request(gateway):
    response = await gateway.send({"id": 1, "method": "ping"})
    assert response["json"]["error"]["code"] == -32600


async def test_unknown_method_is_method_not_found(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/frobnicate"))
    assert response["json"]["error"]["code"] == -32601


@pytest.mark.parametrize(
    "params",
    [{"arguments": {}}, {"name": 7}, {"name": "fixture__echo", "arguments": ["not", "an", "object"]}],
)
async def test_bad_tools_call_params_are_invalid_params(gateway, params):
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/call", params))
    assert response["json"]["error"]["code"] == -32602


async def test_unknown_tool_is_invalid_params_naming_it(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/call", {"name": "nope", "arguments": {}}))
    assert response["json"]["error"] == {"code": -32602, "message": "Unknown tool: nope"}


async def test_bad_cursor_is_invalid_params(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/list", {"cursor": "!!not-a-cursor"}))
    assert response["json"]["error"]["code"] == -32602


async def test_tools_list_pages_through_every_tool(gateway):
    await gateway.initialize()
    names, cursor = [], None
    with override_settings(GATEHOUSE_TOOLS_PAGE_SIZE=3):
        for _ in range(5):
            response = await gateway.send(gateway.request("tools/list", {"cursor": cursor} if cursor else {}))
            result = response["json"]["result"]
            names += [tool["name"] for tool in result["tools"]]
            cursor = result.get("nextCursor")
            if cursor is None:
                break
    assert names == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]


async def test_body_over_the_cap_is_413(gateway):
    with override_settings(GATEHOUSE_MCP_MAX_BODY_BYTES=1024):
        response = await gateway.send(gateway.request("ping", {"padding": "x" * 2048}))
    assert response["status"] == 413


async def test_notification_is_accepted_with_202(gateway):
    await gateway.initialize()
    response = await gateway.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert response["status"] == 202
    assert response["body"] == b""


async def test_request_without_session_is_400(gateway):
    response = await gateway.send(gateway.request("tools/list"))
    assert response["status"] == 400
    assert "Mcp-Session-Id" in response["json"]["error"]["message"]


async def test_forged_session_is_404(gateway):
    gateway.session_id = "forged-session-id"
    response = await gateway.send(gateway.request("tools/list"))
    assert response["status"] == 404


async def test_session_presented_by_another_principal_is_404(gateway, catalog):
    await gateway.initialize()
    stranger_token = await sync_to_async(
        lambda: token_services.token_create(user=UserFactory(email="other@example.com"), name="x")[1]
    )()
    gateway.token = stranger_token
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 404


async def test_session_presented_by_another_token_of_the_same_user_is_404(gateway, catalog):
    await gateway.initialize()
    gateway.token = await sync_to_async(lambda: token_services.token_create(user=catalog["owner"], name="second")[1])()
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 404


async def test_delete_ends_the_session(gateway):
    await gateway.initialize()
    assert (await gateway.send(b"", method="DELETE"))["status"] == 204
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 404


async def test_get_stream_needs_to_accept_an_event_stream(gateway):
    await gateway.initialize()
    response = await gateway.send(b"", method="GET", accept="application/json")
    assert response["status"] == 406


async def test_get_stream_without_session_is_400(gateway):
    response = await gateway.send(b"", method="GET", accept="text/event-stream")
    assert response["status"] == 400


async def test_last_event_id_of_another_session_is_400(gateway):
    await gateway.initialize()
    response = await gateway.send(b"", method="GET", accept="text/event-stream", last_event_id="someone-else.p1:3")
    assert response["status"] == 400
    assert "Last-Event-ID" in response["json"]["error"]["message"]


async def test_unsupported_protocol_version_header_is_400(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("ping"), mcp_protocol_version="2099-01-01")
    assert response["status"] == 400


async def test_foreign_host_header_is_403(gateway):
    response = await gateway.send(gateway.request("ping"), host="evil.example.com")
    assert response["status"] == 403


async def test_foreign_origin_is_403(gateway):
    response = await gateway.send(gateway.request("ping"), origin="http://evil.example.com")
    assert response["status"] == 403


async def test_missing_token_is_401_with_challenge(gateway):
    gateway.token = None
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 401
    assert response["headers"]["www-authenticate"].startswith("Bearer")


async def test_garbage_token_is_401(gateway):
    gateway.token = "gth_not-a-real-token-at-all-000000000000000000000"
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 401


async def test_server_restricted_token_cannot_use_the_aggregate_endpoint(gateway, catalog):
    restricted = await sync_to_async(
        lambda: token_services.token_create(user=catalog["owner"], name="demo-only", servers=[catalog["server"]])[1]
    )()
    gateway.path, gateway.token = "/mcp", restricted
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 403


async def test_warm_tools_call_makes_no_database_query(gateway):
    await gateway.initialize()
    call = gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "warm"}})
    assert "result" in (await gateway.send(call))["json"]
    with override_settings(GATEHOUSE_CATALOG_VERSION_TTL_SECONDS=3600):
        from catalog.version import catalog_version_current

        await catalog_version_current()
        with queries_in_every_thread() as executed:
            for _ in range(3):
                response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "warm"}}))
                assert response["json"]["result"]["content"][0]["text"] == "warm"
    assert executed == []


async def test_catalog_change_is_seen_on_the_next_request(gateway, catalog):
    from catalog import services as catalog_services
    from catalog.models import Tool

    await gateway.initialize()
    call = gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "x"}})
    assert "result" in (await gateway.send(call))["json"]
    echo = await Tool.objects.aget(exposed_name="fixture__echo")
    await sync_to_async(catalog_services.catalog_entry_update)(entry=echo, actor=catalog["owner"], enabled=False)
    response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "x"}}))
    assert response["json"]["error"]["message"] == "Unknown tool: fixture__echo"


async def test_calls_share_one_pooled_upstream_session(gateway):
    from proxy.upstream.pool import upstream_pool

    await gateway.initialize()
    for text in ("a", "b", "c"):
        await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": text}}))
    sessions = list(upstream_pool()._sessions.values())
    assert len(sessions) == 1
    first_client = await sessions[0].client()
    await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "d"}}))
    assert await sessions[0].client() is first_client


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00 not utf-8",
        b"[" * 100_000 + b"]" * 100_000,
        b'"just a string"',
        b"null",
        b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}',
        b'{"jsonrpc": "2.0", "id": true, "method": "ping"}',
        b'{"jsonrpc": "2.0", "id": 1, "method": 42}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": [1, 2]}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 7}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": []}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": "not an object", "cursor": 5}}',
    ],
    ids=["not-utf8", "deep-nesting", "string", "null", "float-id", "bool-id", "numeric-method", "list-params",
         "numeric-version", "list-capabilities", "odd-meta-and-cursor"],
)
async def test_malformed_input_gets_a_jsonrpc_error_not_a_server_error(gateway, body):
    await gateway.initialize()
    response = await gateway.send(body)
    assert response["status"] in (200, 400)
    assert response["json"]["error"]["code"] in (-32700, -32600, -32602)


async def test_json_nested_past_the_depth_cap_is_refused_before_any_handler(gateway):
    await gateway.initialize()
    nested = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "fixture__echo", "arguments": {"text": "x", "deep": json.loads("[" * 100 + "]" * 100)}}}
    response = await gateway.send(nested)
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32600
    assert "deeper than 64" in response["json"]["error"]["message"]


async def test_an_unexpected_failure_is_logged_and_answered_in_jsonrpc(gateway, monkeypatch, caplog):
    from proxy.protocol import handlers

    async def broken(ctx, params):
        raise RuntimeError("a bug")

    await gateway.initialize()
    monkeypatch.setitem(handlers.HANDLERS, "ping", broken)
    response = await gateway.send(gateway.request("ping"))
    assert response["status"] == 500
    assert response["json"]["error"] == {"code": -32603, "message": "Internal error."}
    assert "a bug" in caplog.text


async def test_every_call_is_recorded_as_a_use_of_the_token(gateway, catalog):
    from tokens.models import TokenUsage
    from tokens.usage import usage_flush

    await gateway.initialize()
    await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "hi"}}))
    await gateway.send(gateway.request("tools/call", {"name": "no_such_tool", "arguments": {}}))
    await usage_flush()
    rows = await sync_to_async(list)(
        TokenUsage.objects.filter(method="tools/call").order_by("id").values_list("endpoint", "outcome")
    )
    assert rows == [("fixture__echo", "allowed"), ("", "error")]
