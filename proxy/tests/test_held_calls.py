"""A stateless (2026-07-28) client calling a handshake-era upstream whose tool samples, then elicits: the upstream
call is held open and each server→client request becomes a round of ``input_required`` (proxy.protocol.holds).
Against the real ASGI application and a real handshake-era upstream process."""
from __future__ import annotations

import pytest

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.tests.conftest import Gateway
from tests.factories import UserFactory
from tokens import services as token_services

MODERN = "2026-07-28"
CAPABILITIES = {"sampling": {}, "elicitation": {}}
SAMPLED = {"role": "assistant", "content": {"type": "text", "text": "Hello"}, "model": "m"}
ELICITED = {"action": "accept", "content": {"name": "Ann"}}


@pytest.fixture
def held(transactional_db, stateful_upstream, closed_pool):
    owner = UserFactory(email="held-owner@example.com")
    upstream = catalog_services.upstream_create(owner=owner, name="old", url=stateful_upstream.url, timeout_seconds=10)
    assert catalog_services.upstream_discover(upstream=upstream).ok
    tools = [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    catalog_services.server_create(owner=owner, slug="held", tools=tools)
    _, token = token_services.token_create(user=owner, name="held")
    _, other_token = token_services.token_create(user=owner, name="held-2")
    return {"token": token, "other_token": other_token}


async def _call(gateway: Gateway, capabilities: dict = CAPABILITIES, **params) -> dict:
    request = gateway.request("tools/call", {
        "name": "old__ask", "arguments": {"question": "Hi?"}, **params,
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                  "io.modelcontextprotocol/clientCapabilities": capabilities},
    })
    response = await gateway.send(request, mcp_protocol_version=MODERN, mcp_method="tools/call", mcp_name="old__ask")
    return response["json"]


async def test_a_held_call_asks_each_request_as_input_required_and_finishes(held):
    gateway = Gateway("/servers/held/mcp", held["token"])
    first = (await _call(gateway))["result"]
    assert first["resultType"] == "input_required"
    [(key, request)] = first["inputRequests"].items()
    assert request["method"] == "sampling/createMessage"
    assert request["params"]["messages"][0]["content"]["text"] == "Hi?"
    second = (await _call(gateway, inputResponses={key: SAMPLED}, requestState=first["requestState"]))["result"]
    assert second["resultType"] == "input_required"
    [(key, request)] = second["inputRequests"].items()
    assert request["method"] == "elicitation/create"
    assert "The model said Hello" in request["params"]["message"]
    final = (await _call(gateway, inputResponses={key: ELICITED}, requestState=second["requestState"]))["result"]
    assert final["resultType"] == "complete"
    assert final["content"][0]["text"] == 'model=Hello user=accept:{"name": "Ann"}'


@pytest.mark.parametrize("spoil", ["tampered", "replayed", "other-token"])
async def test_a_held_call_state_is_refused_unless_genuine_fresh_and_ours(held, spoil):
    gateway = Gateway("/servers/held/mcp", held["token"])
    first = (await _call(gateway))["result"]
    state, key = first["requestState"], next(iter(first["inputRequests"]))
    if spoil == "tampered":
        state = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    elif spoil == "replayed":
        assert (await _call(gateway, inputResponses={key: SAMPLED}, requestState=state))["result"]["resultType"] \
            == "input_required"
    elif spoil == "other-token":
        gateway = Gateway("/servers/held/mcp", held["other_token"])
    refused = await _call(gateway, inputResponses={key: SAMPLED}, requestState=state)
    assert refused["error"]["code"] == -32602
    assert "requestState" in refused["error"]["message"]


async def test_a_client_that_cannot_answer_gets_the_upstreams_refusal(held):
    """Without declared capabilities nothing is held: the upstream learns the client cannot sample."""
    gateway = Gateway("/servers/held/mcp", held["token"])
    answered = await _call(gateway, capabilities={})
    assert "result" not in answered, answered
    assert "old" in answered["error"]["message"], answered
