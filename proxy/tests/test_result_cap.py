"""GATEHOUSE_MAX_RESULT_BYTES against the real fixture upstream: an oversized answer is a clear JSON-RPC error and
the session (and the pooled upstream session) keep working."""
from __future__ import annotations

import pytest

from proxy.protocol.result_cap import RESULT_TOO_LARGE
from proxy.tests.test_resources_prompts import full, full_server  # noqa: F401 - fixtures

CAP = 4096


@pytest.fixture(autouse=True)
def small_cap(settings):
    settings.GATEHOUSE_MAX_RESULT_BYTES = CAP


async def _answer(gateway, method: str, params: dict) -> dict:
    response = await gateway.send(gateway.request(method, params))
    assert response["status"] == 200
    return response["json"]


async def test_oversized_tool_result_is_an_error_and_the_session_goes_on(full):
    refused = await _answer(full, "tools/call", {"name": "fixture__echo", "arguments": {"text": "x" * (CAP + 1)}})
    assert refused["error"]["code"] == RESULT_TOO_LARGE
    assert "tool result" in refused["error"]["message"] and str(CAP) in refused["error"]["message"]
    assert refused["error"]["data"]["limit"] == CAP and refused["error"]["data"]["size"] > CAP
    answered = await _answer(full, "tools/call", {"name": "fixture__echo", "arguments": {"text": "small"}})
    assert answered["result"]["content"][0]["text"] == "small"


async def test_a_result_under_the_cap_is_relayed_whole(full):
    text = "y" * (CAP // 4)  # echoed twice: as text content and as structuredContent
    answered = await _answer(full, "tools/call", {"name": "fixture__echo", "arguments": {"text": text}})
    assert answered["result"]["content"][0]["text"] == text


async def test_oversized_prompt_render_is_an_error(full):
    refused = await _answer(full, "prompts/get", {"name": "fixture__summarize", "arguments": {"topic": "z" * CAP}})
    assert refused["error"]["code"] == RESULT_TOO_LARGE and "prompt" in refused["error"]["message"]
    answered = await _answer(full, "prompts/get", {"name": "fixture__summarize", "arguments": {"topic": "caps"}})
    assert "caps" in answered["result"]["messages"][0]["content"]["text"]


async def test_multibyte_text_is_measured_in_bytes(full):
    text = "é" * (CAP // 4 + 10)  # echoed twice; under the cap in characters, over it in UTF-8 bytes
    refused = await _answer(full, "tools/call", {"name": "fixture__echo", "arguments": {"text": text}})
    assert refused["error"]["code"] == RESULT_TOO_LARGE


async def test_oversized_resource_contents_are_an_error(full):
    refused = await _answer(full, "resources/read", {"uri": "fixture://items/" + "w" * CAP})
    assert refused["error"]["code"] == RESULT_TOO_LARGE and "resource contents" in refused["error"]["message"]
    answered = await _answer(full, "resources/read", {"uri": "fixture://items/beta"})
    assert answered["result"]["contents"][0]["text"] == "item beta"


@pytest.mark.parametrize("value", [
    {"content": [{"type": "text", "text": "plain"}], "isError": False},
    {"text": "é€😀", "escapes": "\n\t\"\\\x00\x1f", "numbers": [0, -1, 2.5e300, None, True]},
    {"nested": [[{}], [], {"k": [1]}]},
])
def test_the_structural_bounds_hold_the_exact_size(value):
    from proxy.protocol.result_cap import _bounds, result_size

    low, high = _bounds(value)
    assert low <= result_size(value) <= high
