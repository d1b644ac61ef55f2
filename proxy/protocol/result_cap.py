"""The size cap on what an upstream answers (tool results, resource contents, prompt renders, completions).

An answer over ``GATEHOUSE_MAX_RESULT_BYTES`` (measured as its compact JSON encoding, the form it is relayed in)
becomes the JSON-RPC error ``RESULT_TOO_LARGE`` instead of being relayed; the client's session and the pooled
upstream session are untouched, so the next call works as before.
"""
from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from proxy.protocol.jsonrpc import JsonRpcError

# Implementation-defined server error; 13 as in HTTP 413 (Content Too Large).
RESULT_TOO_LARGE = -32013

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def result_size(result: Any) -> int:
    """The UTF-8 length of ``result``'s compact JSON encoding."""
    text = _encode(result)
    return len(text) if text.isascii() else len(text.encode())


def _bounds(value: Any) -> tuple[int, int]:
    """Lower and upper bounds of ``value``'s compact JSON size, in time proportional to the number of values, not
    their bytes (``len`` of a string is O(1)): a character takes 1 to 6 bytes (UTF-8, or a \\u escape)."""
    if isinstance(value, str):
        return len(value) + 2, 6 * len(value) + 2
    if isinstance(value, dict):
        low = high = 1 + len(value)  # braces, colons and commas
        for key, item in value.items():
            key_low, key_high = _bounds(key) if isinstance(key, str) else (3, 26)
            item_low, item_high = _bounds(item)
            low, high = low + key_low + item_low, high + key_high + item_high
        return low, high
    if isinstance(value, list | tuple):
        low = high = 1 + max(len(value), 1)
        for item in value:
            item_low, item_high = _bounds(item)
            low, high = low + item_low, high + item_high
        return low, high
    return 1, 32  # numbers, true, false, null


def result_capped(result: dict[str, Any], *, what: str) -> dict[str, Any]:
    """``result`` unchanged, or JsonRpcError(RESULT_TOO_LARGE) when it exceeds the cap.

    The hot path only walks the result's structure: the exact size is computed when the bounds straddle the cap."""
    cap = settings.GATEHOUSE_MAX_RESULT_BYTES
    if _bounds(result)[1] <= cap:
        return result
    size = result_size(result)
    if size <= cap:
        return result
    raise JsonRpcError(
        RESULT_TOO_LARGE,
        f"The upstream's {what} is {size} bytes, over this gateway's limit of {cap} bytes.",
        data={"size": size, "limit": cap},
    )


# The methods whose answer comes from an upstream, and what the error calls that answer.
_CAPPED = {
    "tools/call": "tool result",
    "resources/read": "resource contents",
    "prompts/get": "prompt",
    "completion/complete": "completion",
}


def capped_answer(method: str, result: dict[str, Any]) -> dict[str, Any]:
    """The handler's answer to ``method``, capped when it is relayed from an upstream."""
    what = _CAPPED.get(method)
    return result if what is None else result_capped(result, what=what)
