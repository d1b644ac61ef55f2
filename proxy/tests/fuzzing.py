"""Hypothesis strategies for JSON-RPC messages aimed at Gatehouse's MCP endpoint: arbitrary JSON, near-valid requests
of both eras, hostile headers, and the checks every reply must pass.

Example counts are scaled by GATEHOUSE_FUZZ_SCALE (default 1, the CI budget); the ``gatehouse`` Hypothesis profile
is derandomized with no example database, so CI sees the same cases on every run.
"""
from __future__ import annotations

import base64
import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

settings.register_profile(
    "gatehouse",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(count: int) -> int:
    return count * int(os.environ.get("GATEHOUSE_FUZZ_SCALE", "1"))


METHODS = (
    "initialize", "ping", "server/discover", "tools/list", "tools/call", "prompts/list", "prompts/get",
    "resources/list", "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
    "logging/setLevel", "completion/complete", "notifications/initialized", "notifications/cancelled",
    "notifications/roots/list_changed", "subscriptions/listen", "tasks/get",
)
VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", "draft", "1999-01-01", "")
# Real tools of the fixture upstream behind the 'demo' server (its slow tool is left out: a random 'seconds' would
# only measure the upstream timeout).
TOOL_NAMES = ("fixture__echo", "fixture__add", "fixture__fail")

text = st.text(max_size=40)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False), text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=25,
)
ids = st.one_of(st.integers(), st.text(max_size=20), st.none(), st.booleans(), st.floats(allow_nan=False),
                st.lists(st.integers(), max_size=2), st.dictionaries(text, st.integers(), max_size=2),
                st.integers(min_value=2**63, max_value=2**200))
methods = st.one_of(st.sampled_from(METHODS), st.text(max_size=30), json_values)
cursors = st.one_of(
    st.none(), json_values, st.text(max_size=30),
    st.binary(max_size=20).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    st.integers().map(lambda n: base64.urlsafe_b64encode(f"o:{n}".encode()).decode()),
    st.text(max_size=12).map(lambda s: base64.urlsafe_b64encode(s.encode()).decode()),
)
capabilities = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "sampling": st.one_of(st.just({}), json_values), "elicitation": st.one_of(st.just({}), json_values),
        "roots": st.one_of(st.just({"listChanged": True}), json_values),
    }),
)
modern_meta = st.fixed_dictionaries({}, optional={
    PROTOCOL_VERSION_META_KEY: st.one_of(st.sampled_from(VERSIONS), json_values),
    CLIENT_CAPABILITIES_META_KEY: capabilities,
    CLIENT_INFO_META_KEY: st.one_of(st.just({"name": "fuzz", "version": "1"}), json_values),
    "progressToken": st.one_of(st.integers(), st.text(max_size=10), json_values),
})
metas = st.one_of(modern_meta, json_values, st.fixed_dictionaries({"progressToken": st.one_of(st.integers(), text)}))
params = st.one_of(
    st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.sampled_from(TOOL_NAMES), text, json_values),
        "arguments": st.one_of(
            st.fixed_dictionaries({}, optional={"text": json_values, "a": json_values, "b": json_values,
                                                "message": json_values}),
            json_values,
        ),
        "cursor": cursors,
        "uri": st.one_of(st.just("fixture://greeting"), text, json_values),
        "_meta": metas,
        "protocolVersion": st.one_of(st.sampled_from(VERSIONS), json_values),
        "capabilities": capabilities,
        "clientInfo": json_values,
        "level": st.one_of(st.sampled_from(("debug", "info", "emergency")), json_values),
        "ref": st.one_of(st.fixed_dictionaries({"type": st.sampled_from(("ref/prompt", "ref/resource", "x")),
                                                "name": json_values, "uri": json_values}), json_values),
        "argument": json_values,
        "context": json_values,
        "requestId": json_values,
        "inputResponses": json_values,
        "requestState": json_values,
    }),
    json_values,
)
messages = st.fixed_dictionaries(
    {"jsonrpc": st.one_of(st.just("2.0"), json_values)},
    optional={"id": ids, "method": methods, "params": params, "result": json_values, "error": json_values},
)


def _deep(depth: int, kind: str) -> bytes:
    """A tools/call whose argument nests ``depth`` levels, written as text (json.dumps would overflow the stack)."""
    opening, closing = (b"[", b"]") if kind == "list" else (b'{"a":', b"}")
    nested = opening * depth + b"0" + closing * depth
    return b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fixture__echo","arguments":{"text":' + (
        nested + b"}}}")


deep = st.builds(_deep, st.integers(min_value=50, max_value=5000), st.sampled_from(("list", "dict")))
huge = st.one_of(
    st.builds(lambda n: {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"k": list(range(n))}},
              st.integers(min_value=1000, max_value=200_000)),
    st.builds(lambda n: {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                         "params": {"name": "x" * n, "arguments": {}}}, st.integers(min_value=100, max_value=100_000)),
)


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    messages.map(_encode),
    st.lists(messages, min_size=0, max_size=4).map(_encode),
    huge.map(_encode),
    deep,
    json_values.map(_encode),
    st.binary(max_size=200),
    messages.map(_encode).flatmap(lambda raw: st.integers(0, len(raw)).map(lambda cut: raw[:cut])),
    st.sampled_from((b"", b"null", b"[]", b"{}", b"NaN", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":NaN}',
                     b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"ping"}', b"[" * 100_000 + b"]" * 100_000)),
)
header_values = st.one_of(st.sampled_from(VERSIONS), st.text(max_size=20))
headers = st.fixed_dictionaries({}, optional={
    "mcp-protocol-version": header_values,
    "mcp-method": st.one_of(st.sampled_from(METHODS), st.text(max_size=20)),
    "mcp-name": st.one_of(st.sampled_from(TOOL_NAMES), st.text(max_size=20)),
    "mcp-session-id": st.one_of(st.just("<valid>"), st.text(max_size=40)),
    "last-event-id": st.text(max_size=30),
    "accept": st.sampled_from(("application/json, text/event-stream", "text/event-stream", "application/json", "*/*")),
})


def assert_well_formed(message: dict[str, Any] | None, *, status: int) -> None:
    """A reply is a JSON-RPC 2.0 result or error object that survives a JSON round trip; no 5xx is ours to give."""
    assert status < 500 or status in (502, 504), f"status {status}: {message}"
    if message is None:
        assert status in (202, 204, 405), status
        return
    # What the transports send: strict JSON (no NaN/Infinity) that encodes to UTF-8 (no lone surrogates).
    json.dumps(message, ensure_ascii=False, allow_nan=False).encode()
    assert message["jsonrpc"] == "2.0"
    assert "id" in message
    assert message["id"] is None or isinstance(message["id"], (str, int)) and not isinstance(message["id"], bool)
    assert ("result" in message) != ("error" in message), message
    if "error" in message:
        error = message["error"]
        assert isinstance(error["code"], int) and not isinstance(error["code"], bool)
        assert isinstance(error["message"], str) and error["message"]
        assert error["code"] != -32603, f"internal error: {message}"
    else:
        assert isinstance(message["result"], dict)


near_params = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.sampled_from(TOOL_NAMES + ("summarize", "nope", "")), text),
    "arguments": st.one_of(
        st.fixed_dictionaries({}, optional={"text": st.one_of(text, json_values), "a": st.integers(),
                                            "b": st.one_of(st.integers(), json_values), "message": text}),
        st.none(),
    ),
    "cursor": cursors,
    "uri": st.sampled_from(("fixture://greeting", "fixture://items/1", "nope://x", "")),
    "protocolVersion": st.sampled_from(VERSIONS),
    "capabilities": capabilities,
    "level": st.sampled_from(("debug", "info", "warning", "emergency", "loud")),
    "requestId": st.one_of(st.integers(), text),
    "inputResponses": json_values,
    "requestState": st.one_of(text, json_values),
    "ref": st.fixed_dictionaries({"type": st.sampled_from(("ref/prompt", "ref/resource")),
                                  "name": st.sampled_from(("summarize", "x")), "uri": text}),
    "argument": st.fixed_dictionaries({"name": text, "value": text}),
})


@st.composite
def near_valid(draw) -> tuple[bytes, dict[str, str]]:
    """A well-framed request of either era with plausible params: the routing headers mostly agree with the body,
    so the case reaches the method handlers (and the upstream) rather than the envelope checks."""
    method = draw(st.sampled_from(METHODS))
    params = draw(near_params)
    request_id = draw(st.one_of(st.integers(min_value=-(2**53), max_value=2**53), st.text(max_size=10)))
    era = draw(st.sampled_from(("handshake", "modern", "mixed")))
    extra: dict[str, str] = {}
    if era == "handshake":
        extra["mcp-session-id"] = "<valid>"
        extra["mcp-protocol-version"] = draw(st.sampled_from(VERSIONS[:4]))
    else:
        version = draw(st.sampled_from(("2026-07-28",) * 4 + VERSIONS))
        params["_meta"] = {PROTOCOL_VERSION_META_KEY: version, **draw(modern_meta)}
        params["_meta"][PROTOCOL_VERSION_META_KEY] = version
        extra["mcp-protocol-version"] = version
        extra["mcp-method"] = method
        if isinstance(params.get("name"), str) and params["name"].isascii():
            extra["mcp-name"] = params["name"]
        elif method == "resources/read":
            extra["mcp-name"] = params.get("uri", "")
        if era == "mixed":
            extra.update(draw(headers))
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if not method.startswith("notifications/") or draw(st.booleans()):
        message["id"] = request_id
    return _encode(message), extra



# JSON the parser accepts but a careless encoder chokes on: lone surrogates, NaN/Infinity, overflowing numbers.
HOSTILE_LITERALS = (
    r'"\ud800"', r'"x\udfffy"', "NaN", "Infinity", "-Infinity", "1e400", "-0", "1.0", r'"\u0000"', "true",
    "123456789012345678901234567890", r'"a\u2028b"', '"2026-07-28"', '"fixture__echo"', "{}", "[]", "null",
)
TEMPLATES = (
    '{"jsonrpc":"2.0","id":@,"method":"ping"}',
    '{"jsonrpc":"2.0","id":1,"method":@}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":@,"arguments":{}}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fixture__echo","arguments":{"text":@}}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fixture__add","arguments":{"a":@,"b":1}}}',
    '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":@}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":@}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":@}}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fixture__echo","arguments":{"text":"x"},'
    '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":@}}}',
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":@,"capabilities":{}}}',
    '{"jsonrpc":"2.0","id":1,"method":"logging/setLevel","params":{"level":@}}',
    '{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":@},'
    '"argument":{"name":"a","value":"b"}}}',
    '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":@}}',
    '{"jsonrpc":"2.0","id":@,"result":{}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fixture__echo","arguments":{"text":"x"},'
    '"requestState":@,"inputResponses":{}}}',
)
hostile = st.builds(
    lambda template, literal: template.replace("@", literal).encode(),
    st.sampled_from(TEMPLATES), st.sampled_from(HOSTILE_LITERALS),
)
hostile_cases = st.tuples(hostile, st.one_of(st.just({"mcp-session-id": "<valid>"}), st.just({}), headers))
cases = st.one_of(st.tuples(bodies, headers), near_valid(), near_valid(), hostile_cases)
