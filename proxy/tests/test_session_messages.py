"""Connection-bound sessions (legacy SSE, WebSocket) without a socket: the plain functions the consumers call."""
from __future__ import annotations

import asyncio

import pytest

from proxy.protocol.jsonrpc import Message, cancelled_request_id
from proxy.protocol.session_messages import ConversationEnded, ConversationRefused, conversation_open, message_reply
from proxy.protocol.session_tasks import RequestTasks
from proxy.sessions import session_end

INITIALIZE = Message(1, "initialize", {"protocolVersion": "2025-03-26", "capabilities": {}})


@pytest.fixture
async def conversation(catalog, closed_pool):
    return await conversation_open(server_slug="demo", authorization=f"Bearer {catalog['token']}", endpoint="ws")


async def test_open_without_token_is_refused_with_a_bearer_challenge(catalog):
    with pytest.raises(ConversationRefused) as refused:
        await conversation_open(server_slug="demo", authorization=None, endpoint="ws")
    assert refused.value.reply.status == 401
    assert refused.value.reply.headers["WWW-Authenticate"].startswith("Bearer")


async def test_open_on_an_unknown_server_is_refused_404(catalog):
    with pytest.raises(ConversationRefused) as refused:
        await conversation_open(server_slug="nope", authorization=f"Bearer {catalog['token']}", endpoint="ws")
    assert refused.value.reply.status == 404


async def test_initialize_issues_a_session_bound_to_the_principal(conversation, catalog):
    reply = await message_reply(conversation, INITIALIZE)
    assert reply["result"]["protocolVersion"] == "2025-03-26"
    assert conversation.session.user_id == catalog["owner"].pk
    assert conversation.session.server_slug == "demo"


async def test_request_before_initialize_is_invalid_request(conversation):
    reply = await message_reply(conversation, Message(1, "tools/list", {}))
    assert reply["error"]["code"] == -32600


async def test_notification_gets_no_reply(conversation):
    await message_reply(conversation, INITIALIZE)
    assert await message_reply(conversation, Message(None, "notifications/initialized", {})) is None


async def test_ended_session_ends_the_conversation(conversation):
    await message_reply(conversation, INITIALIZE)
    session_end(conversation.session)
    with pytest.raises(ConversationEnded):
        await message_reply(conversation, Message(2, "ping", {}))


async def test_stop_cancels_calls_in_flight_without_answering(conversation):
    delivered: list[dict] = []

    async def deliver(reply: dict) -> None:
        delivered.append(reply)

    async def end(reason: str) -> None:
        raise AssertionError(reason)

    tasks = RequestTasks(conversation, deliver=deliver, end=end)
    await tasks.receive(INITIALIZE)
    await tasks.receive(Message(2, "tools/call", {"name": "fixture__slow", "arguments": {"seconds": 5}}))
    await asyncio.sleep(0.2)
    await tasks.stop()
    assert [reply["id"] for reply in delivered] == [1]


@pytest.mark.parametrize(
    ("params", "expected"),
    [({"requestId": 7}, 7), ({"requestId": "a"}, "a"), ({"requestId": True}, None), ({}, None)],
)
def test_cancelled_request_id_accepts_only_jsonrpc_ids(params, expected):
    assert cancelled_request_id(Message(None, "notifications/cancelled", params)) == expected
