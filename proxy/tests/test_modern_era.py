"""The stateless era (2026-07-28) on the same endpoint: discover, per-request envelope, header rules, stamping."""
from __future__ import annotations

import base64

import pytest

MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}


def _modern(gateway, method: str, params: dict | None = None, *, name: str | None = None, **headers: str):
    body = gateway.request(method, {**(params or {}), "_meta": dict(ENVELOPE)})
    routing = {"mcp_protocol_version": MODERN, "mcp_method": method}
    if name is not None:
        routing["mcp_name"] = name
    return gateway.send(body, **{**routing, **headers})


async def test_discover_describes_the_server_for_this_principal(gateway):
    response = await _modern(gateway, "server/discover")
    assert response["status"] == 200
    result = response["json"]["result"]
    assert result["supportedVersions"] == [MODERN]
    assert result["capabilities"]["tools"] == {"listChanged": True}
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "gatehouse"
    assert result["cacheScope"] == "private"
    assert "mcp-session-id" not in response["headers"]


async def test_tools_call_needs_no_session_and_is_stamped(gateway):
    response = await _modern(gateway, "tools/call", {"name": "fixture__echo", "arguments": {"text": "stateless"}},
                             name="fixture__echo")
    result = response["json"]["result"]
    assert result["content"] == [{"type": "text", "text": "stateless"}]
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"] == {"name": "gatehouse", "version": "0.1.0"}


async def test_lists_carry_private_cache_hints(gateway):
    result = (await _modern(gateway, "tools/list"))["json"]["result"]
    assert result["cacheScope"] == "private" and result["ttlMs"] == 0
    assert [tool["name"] for tool in result["tools"]][:2] == ["fixture__add", "fixture__echo"]


async def test_base64_encoded_name_header_is_accepted(gateway):
    encoded = "=?base64?" + base64.b64encode(b"fixture__echo").decode() + "?="
    response = await _modern(gateway, "tools/call", {"name": "fixture__echo", "arguments": {"text": "b64"}},
                             name=encoded)
    assert response["json"]["result"]["content"][0]["text"] == "b64"


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        ({"mcp_method": "tools/list"}, "fixture__echo"),
        ({}, "fixture__add"),
        ({}, None),
        ({"mcp_protocol_version": "2025-11-25"}, "fixture__echo"),
    ],
    ids=["method-mismatch", "name-mismatch", "name-missing", "version-mismatch"],
)
async def test_routing_headers_that_disagree_with_the_body_are_400_minus_32020(gateway, headers, name):
    response = await _modern(gateway, "tools/call", {"name": "fixture__echo", "arguments": {"text": "x"}},
                             name=name, **headers)
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32020


async def test_unsupported_version_is_400_minus_32022_listing_what_discover_lists(gateway):
    body = gateway.request("tools/list", {"_meta": {**ENVELOPE, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}})
    response = await gateway.send(body, mcp_protocol_version="2099-01-01", mcp_method="tools/list")
    assert response["status"] == 400
    error = response["json"]["error"]
    assert error["code"] == -32022
    assert error["data"]["requested"] == "2099-01-01"
    assert error["data"]["supported"] == [MODERN]


async def test_missing_envelope_is_invalid_params(gateway):
    body = gateway.request("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}})
    response = await gateway.send(body, mcp_protocol_version=MODERN, mcp_method="tools/list")
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32602


async def test_unknown_method_is_404_method_not_found(gateway):
    response = await _modern(gateway, "tools/frobnicate")
    assert response["status"] == 404
    assert response["json"]["error"]["code"] == -32601


async def test_unknown_tool_is_400_invalid_params(gateway):
    response = await _modern(gateway, "tools/call", {"name": "nope", "arguments": {}}, name="nope")
    assert response["status"] == 400
    assert response["json"]["error"] == {"code": -32602, "message": "Unknown tool: nope"}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_get_and_delete_are_405_for_modern_requests(gateway, method):
    response = await gateway.send(b"", method=method, mcp_protocol_version=MODERN)
    assert response["status"] == 405


async def test_modern_request_without_a_token_is_401(gateway):
    gateway.token = None
    response = await _modern(gateway, "server/discover")
    assert response["status"] == 401


async def test_handshake_sessions_keep_working_beside_the_modern_era(gateway):
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "old"}}))
    assert "resultType" not in response["json"]["result"]
