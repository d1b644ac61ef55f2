"""``subscriptions/listen`` (2026-07-28) against the real ASGI app and the real conformance fixture upstream: the
acknowledgement comes first, list changes follow catalog edits and upstream announcements within the client's filter,
resource updates follow the upstream, and the stream ends when the credential does."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.tests.conftest import Gateway
from proxy.tests.streams import SseStream
from proxy.upstream.listening import upstream_watches
from tests.published import upstream_published
from tokens import services as token_services
from tokens.models import ApiToken

MODERN = "2026-07-28"
ENVELOPE = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
PATH = "/servers/watched/mcp"


@pytest.fixture
def watched(transactional_db, conformance_upstream, closed_pool):
    """A server 'watched' over every tool, prompt and resource of the conformance fixture, and its owner's token."""
    return upstream_published(
        email="listen-owner@example.com", url=conformance_upstream.url, name="conf", server_slug="watched",
        everything=True, timeout_seconds=10,
    )


def _body(request_id, method: str, params: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                       "params": {**params, "_meta": dict(ENVELOPE)}}).encode()


async def _listen(token: str | None, notifications: dict, *, request_id="listen-1") -> SseStream:
    headers = {"content-type": "application/json", "mcp-protocol-version": MODERN,
               "mcp-method": "subscriptions/listen"}
    stream = SseStream(PATH, token, method="POST", **headers)
    await stream.open(_body(request_id, "subscriptions/listen", {"notifications": notifications}))
    return stream


async def _call(token: str, tool: str) -> dict:
    gateway = Gateway(PATH, token)
    response = await gateway.send(_body(7, "tools/call", {"name": tool, "arguments": {}}),
                                  mcp_protocol_version=MODERN, mcp_method="tools/call", mcp_name=tool)
    return response["json"]


async def _disable(exposed_name: str, owner) -> None:
    tool = await Tool.objects.aget(exposed_name=exposed_name)
    await sync_to_async(catalog_services.catalog_entry_update)(entry=tool, actor=owner, enabled=False)


async def test_discover_advertises_list_changes_and_subscriptions(watched):
    gateway = Gateway(PATH, watched.token)
    response = await gateway.send(_body(1, "server/discover", {}), mcp_protocol_version=MODERN,
                                  mcp_method="server/discover")
    capabilities = response["json"]["result"]["capabilities"]
    assert capabilities["tools"] == {"listChanged": True}
    assert capabilities["prompts"] == {"listChanged": True}
    assert capabilities["resources"] == {"subscribe": True, "listChanged": True}


async def test_acknowledgement_comes_first_with_the_honored_filter(watched):
    wanted = {"toolsListChanged": True, "resourceSubscriptions": ["test://watched-resource"]}
    stream = await _listen(watched.token, wanted)
    try:
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        ack = await stream.message()
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"]["notifications"] == {
            "toolsListChanged": True, "resourceSubscriptions": ["test://watched-resource"],
        }
        assert ack["params"]["_meta"] == {SUBSCRIPTION_ID: "listen-1"}
    finally:
        await stream.close()


async def test_a_catalog_edit_reaches_the_stream_as_tools_list_changed(watched):
    stream = await _listen(watched.token, {"toolsListChanged": True})
    try:
        await stream.message()
        await _disable("conf__test_simple_text", watched.owner)
        changed = await stream.message(timeout=10)
        assert changed == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                           "params": {"_meta": {SUBSCRIPTION_ID: "listen-1"}}}
    finally:
        await stream.close()


async def test_a_change_outside_the_filter_is_not_sent(watched):
    stream = await _listen(watched.token, {"promptsListChanged": True})
    try:
        await stream.message()
        await _disable("conf__test_simple_text", watched.owner)
        assert (await _call(watched.token, "conf__test_trigger_tool_change"))["result"]["isError"] is False
        assert await stream.quiet(timeout=3)
    finally:
        await stream.close()


async def test_an_upstream_announcing_a_prompt_change_reaches_the_stream(watched):
    stream = await _listen(watched.token, {"promptsListChanged": True})
    try:
        await stream.message()
        await _call(watched.token, "conf__test_trigger_prompt_change")
        changed = await stream.message(timeout=10)
        assert changed["method"] == "notifications/prompts/list_changed"
        assert changed["params"]["_meta"] == {SUBSCRIPTION_ID: "listen-1"}
    finally:
        await stream.close()


async def test_a_subscribed_resource_update_from_the_upstream_is_relayed(watched):
    stream = await _listen(watched.token, {"resourceSubscriptions": ["test://watched-resource"]}, request_id=42)
    try:
        await stream.message()
        await _call(watched.token, "conf__test_trigger_resource_update")
        updated = await stream.message(timeout=10)
        assert updated == {"jsonrpc": "2.0", "method": "notifications/resources/updated",
                           "params": {"uri": "test://watched-resource", "_meta": {SUBSCRIPTION_ID: 42}}}
    finally:
        await stream.close()


async def test_streams_asking_the_same_share_one_upstream_watch_and_the_last_one_out_closes_it(watched):
    lists = await _listen(watched.token, {"promptsListChanged": True}, request_id="a")
    same = await _listen(watched.token, {"promptsListChanged": True, "toolsListChanged": True}, request_id="b")
    resource = await _listen(watched.token, {"resourceSubscriptions": ["test://watched-resource"]}, request_id="c")
    try:
        for stream in (lists, same, resource):
            await stream.message()
        # One upstream session for the two streams that want list changes only, one for the resource subscription.
        assert upstream_watches() == 2
        await _call(watched.token, "conf__test_trigger_prompt_change")
        for stream, request_id in ((lists, "a"), (same, "b")):
            changed = await stream.message(timeout=10)
            assert changed["method"] == "notifications/prompts/list_changed"
            assert changed["params"]["_meta"] == {SUBSCRIPTION_ID: request_id}
        await lists.close()
        assert upstream_watches() == 2
        await _call(watched.token, "conf__test_trigger_resource_update")
        assert (await resource.message(timeout=10))["params"]["uri"] == "test://watched-resource"
    finally:
        for stream in (lists, same, resource):
            if not stream.communicator.future.done():
                await stream.close()
    assert upstream_watches() == 0


async def test_a_resource_the_principal_cannot_see_is_not_honored(watched):
    stream = await _listen(watched.token, {"resourceSubscriptions": ["test://not-on-this-server"]})
    try:
        ack = await stream.message()
        assert ack["params"]["notifications"] == {}
    finally:
        await stream.close()


async def test_a_revoked_token_ends_the_stream_with_the_graceful_close(watched):
    stream = await _listen(watched.token, {"toolsListChanged": True})
    await stream.message()
    token = await ApiToken.objects.aget(name="watched")
    await sync_to_async(token_services.token_revoke)(token=token, actor=watched.owner)
    closed = await stream.message(timeout=10)
    assert closed["id"] == "listen-1"
    assert closed["result"]["_meta"][SUBSCRIPTION_ID] == "listen-1"
    await stream.wait_for_end()
    await stream.stopped()


async def test_listen_without_accepting_an_event_stream_is_406(watched):
    gateway = Gateway(PATH, watched.token)
    body = _body(1, "subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    response = await gateway.send(body, accept="application/json", mcp_protocol_version=MODERN,
                                  mcp_method="subscriptions/listen")
    assert response["status"] == 406
    assert response["json"]["id"] == 1


@pytest.mark.parametrize("notifications", [None, {"resourceSubscriptions": "test://watched-resource"}])
async def test_a_malformed_filter_is_invalid_params(watched, notifications):
    gateway = Gateway(PATH, watched.token)
    params = {} if notifications is None else {"notifications": notifications}
    response = await gateway.send(_body(1, "subscriptions/listen", params), mcp_protocol_version=MODERN,
                                  mcp_method="subscriptions/listen")
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32602


async def test_listen_without_a_token_is_401(watched):
    stream = await _listen(None, {"toolsListChanged": True})
    assert stream.status == 401
    await stream.body()
    await stream.stopped()


async def test_a_principal_cannot_pile_up_listen_streams(watched, monkeypatch):
    monkeypatch.setattr("proxy.protocol.listen.MAX_STREAMS_PER_PRINCIPAL", 1)
    first = await _listen(watched.token, {"toolsListChanged": True})
    try:
        await first.message()
        gateway = Gateway(PATH, watched.token)
        response = await gateway.send(_body(2, "subscriptions/listen", {"notifications": {"toolsListChanged": True}}),
                                      mcp_protocol_version=MODERN, mcp_method="subscriptions/listen")
        assert response["json"]["error"]["code"] == -32029
    finally:
        await first.close()
    second = await _listen(watched.token, {"toolsListChanged": True})
    try:
        assert (await second.message())["method"] == "notifications/subscriptions/acknowledged"
    finally:
        await second.close()
