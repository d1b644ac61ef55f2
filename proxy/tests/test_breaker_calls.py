"""The circuit breaker opened by real calls: a dead upstream fails fast without the health task, and heals itself
through the half-open trial once it is back."""
from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.tests.conftest import Gateway
from proxy.upstream.breaker import CLOSED, HALF_OPEN, OPEN, breaker_close, breaker_state
from tests.factories import UserFactory
from tests.processes import FixtureUpstream
from tokens import services as token_services

pytestmark = pytest.mark.django_db(transaction=True)

COOLDOWN = 4


@pytest.fixture
def own_upstream():
    """An upstream process of this test's own, so it can be killed and restarted."""
    upstream = FixtureUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture
def breaker_settings(settings):
    settings.UNHEALTHY_THRESHOLD = 2
    settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS = COOLDOWN


def _published(url: str) -> tuple[int, str]:
    owner = UserFactory(email="breaker@example.com")
    upstream = catalog_services.upstream_create(owner=owner, name="flaky", url=url, timeout_seconds=5)
    assert catalog_services.upstream_discover(upstream=upstream).ok
    tools = [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    catalog_services.server_create(owner=owner, slug="flaky", tools=tools)
    return upstream.pk, token_services.token_create(user=owner, name="breaker")[1]


async def _call(gateway: Gateway, tool: str, arguments: dict) -> dict:
    response = await gateway.send(gateway.request("tools/call", {"name": f"flaky__{tool}", "arguments": arguments}))
    return response["json"]


async def test_failed_calls_open_the_breaker_and_a_trial_call_closes_it(own_upstream, breaker_settings, closed_pool):
    upstream_id, token = await sync_to_async(_published)(own_upstream.url)
    breaker_close(upstream_id)
    try:
        gateway = Gateway("/servers/flaky/mcp", token)
        await gateway.initialize()
        assert (await _call(gateway, "echo", {"text": "up"}))["result"]["content"][0]["text"] == "up"

        own_upstream.stop()
        for _ in range(2):  # UNHEALTHY_THRESHOLD connection failures in a row, no health task anywhere
            assert (await _call(gateway, "echo", {"text": "down"}))["error"]["code"] == -32000
        assert breaker_state(upstream_id) == OPEN

        # Back up, but the breaker is still open: the call fails fast without trying the upstream.
        own_upstream.start()
        started = time.monotonic()
        refused = await _call(gateway, "echo", {"text": "still open"})
        assert refused["error"] == {"code": -32000, "message": "Upstream 'flaky' is unavailable."}
        assert time.monotonic() - started < 0.5

        while breaker_state(upstream_id) != HALF_OPEN:
            await asyncio.sleep(0.2)
        # The half-open trial reaches the live upstream and closes the breaker for everyone.
        assert (await _call(gateway, "echo", {"text": "healed"}))["result"]["content"][0]["text"] == "healed"
        assert breaker_state(upstream_id) == CLOSED
        assert (await _call(gateway, "echo", {"text": "again"}))["result"]["content"][0]["text"] == "again"
    finally:
        breaker_close(upstream_id)


async def test_error_answers_of_a_live_upstream_do_not_open_the_breaker(own_upstream, breaker_settings, closed_pool):
    upstream_id, token = await sync_to_async(_published)(own_upstream.url)
    breaker_close(upstream_id)
    try:
        gateway = Gateway("/servers/flaky/mcp", token)
        await gateway.initialize()
        for _ in range(3):
            failed = await _call(gateway, "fail", {"message": "nope"})
            assert failed["result"]["isError"] is True  # the tool failed; the upstream answered
            invalid = await _call(gateway, "add", {"a": "not a number", "b": 1})
            assert invalid.get("error") or invalid["result"].get("isError")
        assert breaker_state(upstream_id) == CLOSED
        assert (await _call(gateway, "add", {"a": 1, "b": 2}))["result"]["content"][0]["text"] == "3"
    finally:
        breaker_close(upstream_id)


async def test_failures_broken_by_a_success_are_not_in_a_row(own_upstream, breaker_settings, closed_pool):
    upstream_id, token = await sync_to_async(_published)(own_upstream.url)
    breaker_close(upstream_id)
    try:
        gateway = Gateway("/servers/flaky/mcp", token)
        await gateway.initialize()
        for _ in range(2):
            own_upstream.stop()
            assert (await _call(gateway, "echo", {"text": "down"}))["error"]["code"] == -32000
            own_upstream.start()
            assert (await _call(gateway, "echo", {"text": "up"}))["result"]["content"][0]["text"] == "up"
        assert breaker_state(upstream_id) == CLOSED
    finally:
        breaker_close(upstream_id)
