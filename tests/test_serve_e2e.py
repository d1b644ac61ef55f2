"""`manage.py serve` as a real process: it serves MCP, and SIGTERM lets a call in flight finish before it exits 0."""
from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
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
