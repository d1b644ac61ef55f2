"""Legacy HTTP+SSE (2024-11-05) against the real ASGI application, the channel layer and a real upstream process."""
from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from proxy.tests.conftest import Gateway
from proxy.tests.streams import SseStream, post_path
from tests.factories import UserFactory
from tokens import services as token_services

INITIALIZE = {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"}}


@pytest.fixture
async def stream(catalog, closed_pool):
    stream = SseStream("/servers/demo/sse", catalog["token"])
    yield stream
    if stream.status == 200 and not stream.ended:
        await stream.close()


async def _opened(stream: SseStream, token: str) -> Gateway:
    """Open the stream and return a client for its POST URI."""
    assert await stream.open() == 200
    return Gateway(post_path(await stream.endpoint()), token)


async def _initialized(stream: SseStream, token: str) -> Gateway:
    poster = await _opened(stream, token)
    assert (await poster.send(poster.request("initialize", INITIALIZE)))["status"] == 202
    assert "result" in await stream.message()
    assert (await poster.send({"jsonrpc": "2.0", "method": "notifications/initialized"}))["status"] == 202
    return poster


async def test_stream_opens_with_event_stream_headers_and_the_endpoint_event(stream, catalog):
    assert await stream.open() == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    assert (await stream.endpoint()).startswith("/servers/demo/messages/?session_id=")


async def test_aggregate_stream_names_the_aggregate_messages_uri(catalog, closed_pool):
    stream = SseStream("/sse", catalog["token"])
    assert await stream.open() == 200
    assert (await stream.endpoint()).startswith("/messages/?session_id=")
    await stream.close()


async def test_post_is_accepted_at_once_and_answered_on_the_stream(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    response = await poster.send(poster.request("initialize", INITIALIZE))
    assert response["status"] == 202
    assert response["body"] == b""
    message = await stream.message()
    assert message["id"] == 1
    assert message["result"]["protocolVersion"] == "2024-11-05"
    assert message["result"]["serverInfo"]["name"] == "gatehouse"


async def test_tools_list_and_call_through_the_upstream(stream, catalog):
    poster = await _initialized(stream, catalog["token"])
    await poster.send(poster.request("tools/list"))
    names = [tool["name"] for tool in (await stream.message())["result"]["tools"]]
    assert names == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]
    await poster.send(poster.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "over sse"}}))
    result = (await stream.message())["result"]
    assert result["content"] == [{"type": "text", "text": "over sse"}]
    assert "resultType" not in result


async def test_slow_call_does_not_hold_up_a_ping(stream, catalog):
    poster = await _initialized(stream, catalog["token"])
    slow = poster.request("tools/call", {"name": "fixture__slow", "arguments": {"seconds": 1.5}})
    ping = poster.request("ping")
    await poster.send(slow)
    await poster.send(ping)
    assert (await stream.message())["id"] == ping["id"]
    assert (await stream.message())["id"] == slow["id"]


async def test_cancelled_request_gets_no_answer(stream, catalog):
    poster = await _initialized(stream, catalog["token"])
    # A warm upstream session: this is about cancelling the call, not the connection being opened for it.
    await poster.send(poster.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "warm"}}))
    assert "result" in await stream.message()
    slow = poster.request("tools/call", {"name": "fixture__slow", "arguments": {"seconds": 1}})
    await poster.send(slow)
    await poster.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": slow["id"]}})
    await asyncio.sleep(1.5)
    ping = poster.request("ping")
    await poster.send(ping)
    assert (await stream.message())["id"] == ping["id"]


async def test_request_before_initialize_is_an_error_on_the_stream(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    assert (await poster.send(poster.request("tools/list")))["status"] == 202
    error = (await stream.message())["error"]
    assert error["code"] == -32600
    assert "initialize" in error["message"]


async def test_ping_before_initialize_is_answered(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    await poster.send(poster.request("ping"))
    assert (await stream.message())["result"] == {}


async def test_messages_of_one_session_never_reach_another_stream(stream, catalog):
    other = SseStream("/servers/demo/sse", catalog["token"])
    await _opened(other, catalog["token"])
    poster = await _opened(stream, catalog["token"])
    await poster.send(poster.request("ping"))
    assert "result" in await stream.message()
    assert await other.quiet()
    await other.close()


async def test_stream_without_token_is_401_with_bearer_challenge(catalog, closed_pool):
    stream = SseStream("/servers/demo/sse", None)
    assert await stream.open() == 401
    assert stream.headers["www-authenticate"].startswith("Bearer")
    assert b'"error"' in await stream.body()


async def test_stream_on_an_unknown_server_is_404(catalog, closed_pool):
    stream = SseStream("/servers/nope/sse", catalog["token"])
    assert await stream.open() == 404


async def test_stream_with_foreign_origin_is_403(catalog, closed_pool):
    stream = SseStream("/servers/demo/sse", catalog["token"], origin="http://evil.example.com")
    assert await stream.open() == 403


async def test_stream_with_foreign_host_is_403(catalog, closed_pool):
    stream = SseStream("/servers/demo/sse", catalog["token"], host="evil.example.com")
    assert await stream.open() == 403


async def test_post_on_the_stream_endpoint_is_405(catalog, closed_pool):
    stream = SseStream("/servers/demo/sse", catalog["token"], method="POST")
    assert await stream.open() == 405
    assert stream.headers["allow"] == "GET"


async def test_server_restricted_token_cannot_open_the_aggregate_stream(catalog, closed_pool):
    restricted = await sync_to_async(
        lambda: token_services.token_create(user=catalog["owner"], name="demo-only", servers=[catalog["server"]])[1]
    )()
    stream = SseStream("/sse", restricted)
    assert await stream.open() == 403
    assert b"/servers/<slug>/sse" in await stream.body()


async def test_post_without_token_is_401_with_bearer_challenge(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    poster.token = None
    response = await poster.send(poster.request("ping"))
    assert response["status"] == 401
    assert response["headers"]["www-authenticate"].startswith("Bearer")


async def test_post_by_another_principal_is_404(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    poster.token = await sync_to_async(
        lambda: token_services.token_create(user=UserFactory(email="other@example.com"), name="x")[1]
    )()
    response = await poster.send(poster.request("ping"))
    assert response["status"] == 404


async def test_post_with_another_token_of_the_same_user_is_404(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    poster.token = await sync_to_async(lambda: token_services.token_create(user=catalog["owner"], name="second")[1])()
    assert (await poster.send(poster.request("ping")))["status"] == 404


async def test_post_to_another_servers_messages_uri_is_404(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    poster.path = poster.path.replace("/servers/demo/", "/", 1)
    assert (await poster.send(poster.request("ping")))["status"] == 404


async def test_post_without_session_id_is_400(catalog, closed_pool):
    poster = Gateway("/servers/demo/messages/", catalog["token"])
    response = await poster.send(poster.request("ping"))
    assert response["status"] == 400
    assert "session_id" in response["json"]["error"]["message"]


async def test_forged_session_id_is_404(catalog, closed_pool):
    poster = Gateway("/servers/demo/messages/?session_id=forged", catalog["token"])
    assert (await poster.send(poster.request("ping")))["status"] == 404


async def test_post_with_foreign_origin_is_403(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    response = await poster.send(poster.request("ping"), origin="http://evil.example.com")
    assert response["status"] == 403


async def test_post_body_over_the_cap_is_413(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    with override_settings(GATEHOUSE_MCP_MAX_BODY_BYTES=1024):
        response = await poster.send(poster.request("ping", {"padding": "x" * 2048}))
    assert response["status"] == 413


async def test_invalid_json_post_is_400_parse_error(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    response = await poster.send(b"{not json")
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32700


async def test_batch_post_is_400(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    response = await poster.send([poster.request("ping"), poster.request("ping")])
    assert response["status"] == 400
    assert response["json"]["error"]["code"] == -32600


async def test_get_on_the_messages_endpoint_is_405(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    response = await poster.send(b"", method="GET")
    assert response["status"] == 405
    assert response["headers"]["allow"] == "POST"


async def test_keepalive_comment_keeps_an_idle_stream_alive(catalog, closed_pool):
    with override_settings(GATEHOUSE_SSE_KEEPALIVE_SECONDS=0.2):
        stream = SseStream("/servers/demo/sse", catalog["token"])
        await _opened(stream, catalog["token"])
        assert await stream.event(timeout=2) == ("comment", "keepalive")
        await stream.close()


async def test_idle_stream_outlives_the_channel_layer_poll(stream, catalog):
    """channels_redis polls Redis in 5 s blocking reads; an idle stream must survive them and still answer."""
    poster = await _opened(stream, catalog["token"])
    await asyncio.sleep(6)
    await poster.send(poster.request("ping"))
    assert (await stream.message())["result"] == {}


async def test_closing_the_stream_ends_the_session(stream, catalog):
    poster = await _opened(stream, catalog["token"])
    await stream.close()
    assert (await poster.send(poster.request("ping")))["status"] == 404


async def test_revoked_token_ends_the_stream(catalog, closed_pool):
    from tokens.models import ApiToken

    with override_settings(GATEHOUSE_SSE_KEEPALIVE_SECONDS=0.2):
        stream = SseStream("/servers/demo/sse", catalog["token"])
        poster = await _opened(stream, catalog["token"])
        token = await ApiToken.objects.aget(user=catalog["owner"])
        await sync_to_async(token_services.token_revoke)(token=token, actor=catalog["owner"])
        await stream.wait_for_end(timeout=5)
        await stream.stopped()
    assert (await poster.send(poster.request("ping")))["status"] == 401


async def test_unexpected_failure_is_answered_on_the_stream_as_internal_error(stream, catalog, monkeypatch, caplog):
    from proxy.protocol import handlers

    async def broken(ctx, params):
        raise RuntimeError("a bug")

    poster = await _initialized(stream, catalog["token"])
    monkeypatch.setitem(handlers.HANDLERS, "ping", broken)
    await poster.send(poster.request("ping"))
    assert (await stream.message())["error"] == {"code": -32603, "message": "Internal error."}
    assert "a bug" in caplog.text
