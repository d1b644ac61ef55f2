"""OpenTelemetry end to end: a real Gatehouse process with OTEL_EXPORTER_OTLP_ENDPOINT set exports one span per MCP
request to a real OTLP/HTTP receiver; the client's trace is the parent, the upstream (a real process) continues it,
and a Celery task run by a real worker continues the trace of whoever enqueued it."""
from __future__ import annotations

import asyncio
import json
import os
from contextlib import ExitStack
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from opentelemetry import context as otel_context
from opentelemetry import propagate

from tests.mcp_clients import raw_session, sdk_client
from tests.otlp import otlp_receiver
from tests.processes import FixtureUpstream, gatehouse_server
from tests.published import upstream_published

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SERVER_KIND, CONSUMER_KIND = 2, 5
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def _tracing_env(endpoint: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within a tenth of a second, not the default five
        "OTEL_SERVICE_NAME": "gatehouse-under-test",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
    }


@pytest.fixture(scope="module")
def traced(django_db_setup, django_db_blocker, tmp_path_factory):
    """An OTLP receiver, an upstream that reports the trace context it received, and a traced Gatehouse."""
    from django.db import connection

    log = Path(tmp_path_factory.mktemp("tracing")) / "gateway.log"
    with ExitStack() as stack:
        receiver = stack.enter_context(otlp_receiver())
        upstream = FixtureUpstream(options=("--record-trace",)).start()
        stack.callback(upstream.stop)
        base = stack.enter_context(gatehouse_server(connection.settings_dict, log, _tracing_env(receiver.endpoint)))
        yield receiver, upstream, base


@pytest.fixture(autouse=True)
async def _usage_written():
    """The gateway writes token usage a moment (tokens.usage.FLUSH_DELAY_SECONDS) after a request; let it land before
    the test database is flushed, or SQLite refuses one of the two writers."""
    yield
    await asyncio.sleep(1.5)


async def _published(upstream, slug: str) -> str:
    return (await sync_to_async(upstream_published)(
        email=f"{slug}@example.com", url=upstream.url, name=slug, server_slug=slug,
    )).token


async def test_a_tool_call_span_continues_the_clients_trace_and_the_upstream_continues_it(traced):
    receiver, upstream, base = traced
    token = await _published(upstream, "traced")
    async with raw_session(f"{base}/servers/traced/mcp", token) as session:
        call = session.request("tools/call", {"name": "traced__trace_context", "arguments": {}})
        response = await session.post(call, traceparent=TRACEPARENT)
    seen_upstream = json.loads(response.json()["result"]["content"][0]["text"])

    span = receiver.wait_for(lambda span: span.name == "tools/call traced__trace_context")
    assert span.kind == SERVER_KIND
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert span.attributes == {
        "mcp.method.name": "tools/call",
        "jsonrpc.request.id": str(call["id"]),
        "network.transport": "tcp",
        "network.protocol.name": "http",
        "mcp.protocol.version": "2025-11-25",
        "mcp.session.id": session.session_id,
        "gen_ai.tool.name": "traced__trace_context",
        "gen_ai.operation.name": "execute_tool",
        "gatehouse.server": "traced",
        "gatehouse.upstream": "traced",
    }
    assert span.resource["service.name"] == "gatehouse-under-test"
    assert span.resource["deployment.environment"] == "test"
    # The pooled upstream session carries the trace in the request's _meta (the MCP SDK client's own span, a child
    # of the gateway's span, is the upstream's parent).
    version, trace_id, parent_id, _ = seen_upstream["meta_traceparent"].split("-")
    assert trace_id == TRACE_ID
    client_span = receiver.wait_for(lambda span: span.span_id == parent_id)
    assert client_span.parent_span_id == span.span_id


async def test_a_stateless_request_takes_its_parent_from_meta(traced):
    """The official SDK client in the 2026-07-28 era puts the caller's context in ``params._meta.traceparent``."""
    receiver, upstream, base = traced
    token = await _published(upstream, "stateless")
    attached = otel_context.attach(propagate.extract({"traceparent": TRACEPARENT}))
    try:
        async with sdk_client(f"{base}/servers/stateless/mcp", token) as client:
            result = await client.call_tool("stateless__echo", {"text": "hi"})
    finally:
        otel_context.detach(attached)
    assert result.content[0].text == "hi"
    span = receiver.wait_for(lambda span: span.name == "tools/call stateless__echo")
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert span.attributes["mcp.protocol.version"] == "2026-07-28"
    assert "mcp.session.id" not in span.attributes


async def test_a_legacy_sse_request_takes_its_parent_from_meta(traced):
    """Legacy SSE (and WebSocket) messages have no headers of their own: the parent comes from ``_meta``."""
    from mcp import Client
    from mcp.client.sse import sse_client

    receiver, upstream, base = traced
    token = await _published(upstream, "legacy")
    attached = otel_context.attach(propagate.extract({"traceparent": TRACEPARENT}))
    try:
        transport = sse_client(f"{base}/servers/legacy/sse", headers={"Authorization": f"Bearer {token}"})
        async with Client(transport, mode="legacy", cache=None) as client:
            result = await client.call_tool("legacy__trace_context", {})
    finally:
        otel_context.detach(attached)
    assert json.loads(result.content[0].text)["meta_traceparent"].split("-")[1] == TRACE_ID
    span = receiver.wait_for(lambda span: span.name == "tools/call legacy__trace_context")
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert span.attributes["network.protocol.name"] == "http"
    assert span.attributes["mcp.session.id"]
    assert span.attributes["gatehouse.upstream"] == "legacy"


async def test_errors_are_recorded_on_the_span(traced):
    receiver, upstream, base = traced
    token = await _published(upstream, "failing")
    async with raw_session(f"{base}/servers/failing/mcp", token) as session:
        await session.post(session.request("tools/call", {"name": "failing__fail", "arguments": {}}))
        await session.post(session.request("tools/call", {"name": "failing__nope", "arguments": {}}))
    tool_error = receiver.wait_for(lambda span: span.name == "tools/call failing__fail")
    assert tool_error.attributes["error.type"] == "tool_error"
    assert tool_error.status_code == 2  # STATUS_CODE_ERROR
    unknown = receiver.wait_for(lambda span: span.name == "tools/call failing__nope")
    assert unknown.attributes["error.type"] == unknown.attributes["rpc.response.status_code"] == "-32602"
    # Without a traceparent from the client each request starts its own trace.
    assert unknown.parent_span_id == ""


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="a real worker needs a shared broker (REDIS_URL)")
async def test_a_celery_task_run_by_a_worker_continues_the_trace_that_enqueued_it(traced, tmp_path):
    from django.db import connection

    from catalog.tasks import federation_sync_upstream
    from config.celery import app as celery_app
    from tests.test_operations_e2e import celery

    receiver, upstream, _ = traced
    published = await sync_to_async(upstream_published)(
        email="tasks@example.com", url=upstream.url, name="tasked", server_slug="tasked",
    )
    env = {**_tracing_env(receiver.endpoint), "CELERY_TASK_ALWAYS_EAGER": "false"}
    with celery("worker", connection.settings_dict, tmp_path / "worker.log", extra_env=env):
        attached = otel_context.attach(propagate.extract({"traceparent": TRACEPARENT}))
        eager, celery_app.conf.task_always_eager = celery_app.conf.task_always_eager, False  # through the broker
        try:
            await sync_to_async(federation_sync_upstream.delay)(published.upstream.pk)
        finally:
            celery_app.conf.task_always_eager = eager
            otel_context.detach(attached)
        span = receiver.wait_for(lambda span: span.name == "run catalog.tasks.federation_sync_upstream", timeout=60)
    assert span.kind == CONSUMER_KIND
    assert (span.trace_id, span.parent_span_id) == (TRACE_ID, PARENT_ID)
    assert span.resource["service.name"] == "gatehouse-under-test"
