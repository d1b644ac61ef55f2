"""Defects the protocol fuzzer (test_fuzz_protocol.py) found, each pinned by a plain test against the real ASGI app."""
from __future__ import annotations

import json

import pytest


async def test_unpaired_surrogate_in_the_id_is_invalid_request_not_a_crash(gateway):
    """The id was echoed back and UTF-8 encoding of the reply failed after the status line (a 500 from the server)."""
    response = await gateway.send(b'{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}')
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32600
    assert "surrogate" in response["json"]["error"]["message"]


async def test_unpaired_surrogate_in_a_tool_name_is_invalid_request(gateway):
    await gateway.initialize()
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x\\udfffy","arguments":{}}}'
    response = await gateway.send(body)
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32600


async def test_a_surrogate_pair_is_ordinary_text(gateway):
    await gateway.initialize()
    body = (b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'
            b'"params":{"name":"fixture__echo","arguments":{"text":"\\ud83d\\ude00"}}}')
    response = await gateway.send(body)
    assert response["json"]["result"]["content"] == [{"type": "text", "text": "\U0001F600"}]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_non_finite_numbers_are_parse_errors_not_echoed_as_invalid_json(gateway, literal):
    """A modern request whose version is NaN was refused with data {"requested": NaN}: not JSON at all."""
    body = ('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":'
            '{"io.modelcontextprotocol/protocolVersion":%s}}}' % literal).encode()
    response = await gateway.send(body)
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32700
    json.loads(response["body"], parse_constant=lambda constant: pytest.fail(f"{constant} in the reply"))
