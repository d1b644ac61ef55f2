"""The requests of one connection-bound conversation in flight, each in its own task, so a slow tools/call never
holds up a ping. Transports hand messages in and get replies (and the end of the conversation) back by callback."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from proxy import relay
from proxy.protocol.jsonrpc import INTERNAL_ERROR, JsonRpcError, Message, RequestId, cancelled_request_id, error_message
from proxy.protocol.session_messages import Conversation, ConversationEnded, message_reply

logger = logging.getLogger(__name__)

Deliver = Callable[[dict[str, Any]], Awaitable[None]]
End = Callable[[str], Awaitable[None]]


class ConnectionOutlet:
    """A connection-bound conversation's way to its client: always open, always able to stream."""

    can_stream = True

    def __init__(self, deliver: Deliver) -> None:
        self.send = deliver


class RequestTasks:
    def __init__(self, conversation: Conversation, *, deliver: Deliver, end: End) -> None:
        self.conversation = conversation
        conversation.outlet = ConnectionOutlet(deliver)
        self._deliver = deliver
        self._end = end
        self._tasks: set[asyncio.Task] = set()
        self._by_id: dict[RequestId, asyncio.Task] = {}

    async def receive(self, message: Message) -> None:
        if message.is_response:
            session = self.conversation.session
            if session is not None:
                await relay.client_answer(session.nonce, message.response)
            return
        cancelled = cancelled_request_id(message)
        if cancelled is not None:
            self.cancel(cancelled)
        if message.method == "initialize":
            # Answered in arrival order: a request sent after it must find the session it opens.
            await self._answer(message)
            return
        task = asyncio.create_task(self._answer(message))
        self._tasks.add(task)
        if message.is_request:
            self._by_id[message.id] = task
        task.add_done_callback(lambda done: self._forget(message.id, done))

    def cancel(self, request_id: RequestId) -> None:
        task = self._by_id.get(request_id)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        """Cancel everything in flight (the client is gone) and wait for it to unwind."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _forget(self, request_id: RequestId | None, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self._by_id.get(request_id) is task:
            del self._by_id[request_id]

    async def _answer(self, message: Message) -> None:
        try:
            reply = await message_reply(self.conversation, message)
        except ConversationEnded as ended:
            await self._end(str(ended))
            return
        except Exception:
            # A bug, not bad input: log it with its traceback and still answer in JSON-RPC.
            logger.exception("Unhandled error answering %s", message.method)
            if not message.is_request:
                return
            reply = error_message(message.id, JsonRpcError(INTERNAL_ERROR, "Internal error."))
        if reply is not None:
            await self._deliver(reply)
