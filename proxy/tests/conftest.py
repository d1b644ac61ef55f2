from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from channels.testing import HttpCommunicator
from django.db.backends.utils import CursorWrapper

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.upstream.pool import upstream_pool_close
from tests.factories import UserFactory
from tokens import services as token_services


class Gateway:
    """The real ASGI application, driven in-process through Channels' HttpCommunicator."""

    def __init__(self, path: str, token: str | None) -> None:
        from config.asgi import application

        self.application = application
        self.path = path
        self.token = token
        self.session_id: str | None = None
        self._id = 0

    def headers(self, **extra: str) -> list[tuple[bytes, bytes]]:
        headers = {"host": "127.0.0.1:8000", "accept": "application/json, text/event-stream",
                   "content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        headers.update({name.replace("_", "-").lower(): value for name, value in extra.items()})
        return [(name.encode(), value.encode()) for name, value in headers.items()]

    async def send(self, body: bytes | dict | list, *, method: str = "POST", **headers: str) -> dict:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        communicator = HttpCommunicator(self.application, method, self.path, body=raw, headers=self.headers(**headers))
        response = await communicator.get_response(timeout=30)
        # The consumer stops by itself once its answer is complete.
        done, _ = await asyncio.wait([communicator.future], timeout=5)
        assert done, "the consumer did not stop after answering"
        response["headers"] = {name.decode().lower(): value.decode() for name, value in response["headers"]}
        response["json"] = json.loads(response["body"]) if response["body"].startswith(b"{") else None
        return response

    def request(self, method: str, params: dict | None = None) -> dict:
        self._id += 1
        return {"jsonrpc": "2.0", "id": self._id, "method": method, **({"params": params} if params is not None else {})}

    async def initialize(self) -> dict:
        response = await self.send(self.request("initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "tests", "version": "1"},
        }))
        self.session_id = response["headers"].get("mcp-session-id")
        return response


@pytest.fixture
async def closed_pool():
    yield
    await upstream_pool_close()


@pytest.fixture
def catalog(transactional_db, upstream_process):
    """An owner with a discovered fixture upstream, a virtual server 'demo' over it, and a token."""
    owner = UserFactory(email="proxy-owner@example.com")
    upstream = catalog_services.upstream_create(owner=owner, name="fixture", url=upstream_process.url, timeout_seconds=5)
    assert catalog_services.upstream_discover(upstream=upstream).ok
    tools = [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    server = catalog_services.server_create(owner=owner, slug="demo", tools=tools)
    _, token = token_services.token_create(user=owner, name="proxy-tests")
    return {"owner": owner, "upstream": upstream, "server": server, "token": token}


@pytest.fixture
def gateway(catalog, closed_pool) -> Gateway:
    return Gateway("/servers/demo/mcp", catalog["token"])


@contextmanager
def queries_in_every_thread() -> Iterator[list[str]]:
    """Count SQL from every thread (database_sync_to_async runs queries off the event loop's thread)."""
    executed: list[str] = []
    original = CursorWrapper._execute_with_wrappers

    def counting(self, sql, *args, **kwargs):
        executed.append(sql)
        return original(self, sql, *args, **kwargs)

    CursorWrapper._execute_with_wrappers = counting
    try:
        yield executed
    finally:
        CursorWrapper._execute_with_wrappers = original
