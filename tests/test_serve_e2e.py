"""`manage.py serve` as a real process: it serves MCP, and SIGTERM lets a call in flight finish before it exits 0."""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.mcp_clients import raw_session
from tests.processes import ROOT, gatehouse_serve
from tests.published import upstream_published

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _result_of(response, request_id: int) -> dict:
    """The JSON-RPC answer to ``request_id``, whether the gateway replied with JSON or an SSE stream."""
    if response.headers["content-type"].startswith("text/event-stream"):
        messages = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    else:
        messages = [response.json()]
    return next(message for message in messages if message.get("id") == request_id)


def _refused(base: str) -> bool:
    host, port = base.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_help_explains_the_options():
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0
    for option in ("--host", "--port", "--workers", "--graceful-timeout", "--proxy-headers"):
        assert option in done.stdout
    assert "SIGTERM" in done.stdout


async def test_sigterm_lets_the_slow_call_finish_refuses_new_connections_and_exits_0(upstream_process, tmp_path: Path):
    from django.db import connection

    published = await sync_to_async(upstream_published)(
        email="serve-owner@example.com", url=upstream_process.url, server_slug="drain",
    )
    log = tmp_path / "serve.log"
    with gatehouse_serve(connection.settings_dict, log, "--graceful-timeout", "20") as (base, process):
        async with raw_session(f"{base}/servers/drain/mcp", published.token) as session:
            await session.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            call = session.request("tools/call", {"name": "fixture__slow", "arguments": {"seconds": 3}})
            in_flight = asyncio.create_task(session.post(call))
            await asyncio.sleep(1.0)  # the call has reached the upstream
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)

            assert _refused(base), "a new connection was accepted after SIGTERM"
            assert not in_flight.done()
            response = await asyncio.wait_for(in_flight, timeout=15)

        assert response.status_code == 200
        answer = _result_of(response, call["id"])
        assert answer["result"]["content"][0]["text"] == "slept 3.0"
        assert answer["result"].get("isError") is False
        assert await asyncio.to_thread(process.wait, 15) == 0
    output = log.read_text()
    assert "Shutting down" in output
    assert "Traceback" not in output


def _stdio_published(label: str) -> str:
    from catalog import services as catalog_services
    from catalog.models import Tool
    from tests.factories import UserFactory
    from tests.processes import FIXTURE_SERVER
    from tokens import services as token_services

    owner = UserFactory(email="serve-stdio@example.com")
    upstream = catalog_services.upstream_create(
        owner=owner, name="local tool", slug="local", transport="stdio", command=sys.executable,
        args=[str(FIXTURE_SERVER), "--transport", "stdio", "--label", label], timeout_seconds=20,
    )
    assert catalog_services.upstream_discover(upstream=upstream).ok
    catalog_services.server_create(
        owner=owner, slug="local", tools=[(tool, "") for tool in Tool.objects.filter(upstream=upstream)],
    )
    return token_services.token_create(user=owner, name="stdio")[1]


def _running(label: str) -> bool:
    return subprocess.run(["pgrep", "-f", label], capture_output=True).returncode == 0


async def test_sigterm_reaps_stdio_upstream_children(tmp_path: Path):
    from django.db import connection

    label = f"serve-stdio-{uuid.uuid4().hex}"
    token = await sync_to_async(_stdio_published)(label)
    assert not _running(label)
    with gatehouse_serve(connection.settings_dict, tmp_path / "serve.log") as (base, process):
        async with raw_session(f"{base}/servers/local/mcp", token) as session:
            await session.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            call = session.request("tools/call", {"name": "local__add", "arguments": {"a": 20, "b": 22}})
            answer = _result_of(await session.post(call), call["id"])
        assert answer["result"]["structuredContent"] == {"result": 42}
        assert _running(label)  # the pooled session keeps its child alive between calls

        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0
        # Checked before the helper's own clean-up signals the process group: the lifespan closed the pool.
        assert not _running(label)


async def _read_until_end(response) -> bytes:
    received = b""
    async for chunk in response.aiter_raw():
        received += chunk
    return received


async def test_sigterm_ends_open_event_streams_with_a_retry_hint_instead_of_holding_the_drain(
    upstream_process, tmp_path: Path,
):
    from django.db import connection

    published = await sync_to_async(upstream_published)(
        email="serve-streams@example.com", url=upstream_process.url, server_slug="streams",
    )
    log = tmp_path / "serve.log"
    with gatehouse_serve(connection.settings_dict, log, "--graceful-timeout", "30") as (base, process):
        async with raw_session(f"{base}/servers/streams/mcp", published.token) as session:
            await session.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            stream_headers = {**session.headers, "Mcp-Session-Id": session.session_id, "Accept": "text/event-stream"}
            legacy_headers = {"Authorization": f"Bearer {published.token}", "Accept": "text/event-stream"}
            async with (
                session.http.stream("GET", session.url, headers=stream_headers) as standing,
                session.http.stream("GET", f"{base}/servers/streams/sse", headers=legacy_headers) as legacy,
            ):
                assert standing.status_code == 200 and legacy.status_code == 200
                legacy_body = legacy.aiter_raw()
                assert b"event: endpoint" in await anext(legacy_body)

                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                standing_tail = await asyncio.wait_for(_read_until_end(standing), timeout=10)
                legacy_tail = b"".join([chunk async for chunk in legacy_body])
        # Both ended cleanly (a complete chunked body, no protocol error) with the SSE reconnect field.
        assert standing_tail.endswith(b"retry: 2000\n\n")
        assert legacy_tail.endswith(b"retry: 2000\n\n")
        assert await asyncio.to_thread(process.wait, 20) == 0
        assert time.monotonic() - started < 10  # far below the 30 s graceful timeout the streams would have held
    output = log.read_text()
    assert output.count("ended an event stream with a 2000 ms reconnect hint") == 2
    assert "timeout graceful shutdown exceeded" not in output
    assert "Traceback" not in output
