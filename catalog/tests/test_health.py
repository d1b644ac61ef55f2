"""Upstream health: probes through the real SDK client against a real upstream process, the circuit breaker the data
plane honours, recovery, and the Via header that stops federation loops."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.db import connection

from audit.models import AuditEvent
from catalog.health_services import upstream_health_check
from catalog.models import HealthCheck, UpstreamHealth
from catalog.tasks import health_checks_dispatch
from proxy.tests.conftest import Gateway, closed_pool  # noqa: F401 - a fixture
from proxy.upstream import breaker
from tests.processes import FixtureUpstream, gatehouse_server
from tests.published import upstream_published

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_upstream():
    upstream = FixtureUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(autouse=True)
def _breakers_reset():
    yield
    breaker._local.clear()
    from config.cache import process_cache

    process_cache().clear()


@pytest.fixture
def published(own_upstream):
    return upstream_published(email="health@example.com", url=own_upstream.url, server_slug="health", timeout_seconds=3)


def _call(published) -> Gateway:
    return Gateway("/servers/health/mcp", published.token)


async def _echo(gateway: Gateway) -> dict:
    response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "hi"}}))
    return response["json"]


def test_healthy_probe_is_recorded(published):
    check = upstream_health_check(upstream=published.upstream)
    assert check.ok and check.error == ""
    health = UpstreamHealth.objects.get(upstream=published.upstream)
    assert health.status == UpstreamHealth.Status.HEALTHY and health.consecutive_failures == 0
    assert breaker.breaker_state(published.upstream.pk) == breaker.CLOSED


def test_threshold_failures_mark_unhealthy_open_the_breaker_and_recovery_closes_it(published, own_upstream, settings):
    settings.UNHEALTHY_THRESHOLD = 2
    upstream = published.upstream
    own_upstream.stop()
    upstream_health_check(upstream=upstream)
    assert UpstreamHealth.objects.get(upstream=upstream).status == UpstreamHealth.Status.UNKNOWN
    assert breaker.breaker_state(upstream.pk) == breaker.CLOSED
    upstream_health_check(upstream=upstream)
    health = UpstreamHealth.objects.get(upstream=upstream)
    assert health.status == UpstreamHealth.Status.UNHEALTHY and health.consecutive_failures == 2
    assert breaker.breaker_state(upstream.pk) == breaker.OPEN
    assert AuditEvent.objects.filter(action="upstream.unhealthy", target_id=str(upstream.pk), via="task").exists()
    assert HealthCheck.objects.filter(upstream=upstream, ok=False).count() == 2

    own_upstream.start()
    upstream_health_check(upstream=upstream)
    assert UpstreamHealth.objects.get(upstream=upstream).status == UpstreamHealth.Status.HEALTHY
    assert breaker.breaker_state(upstream.pk) == breaker.CLOSED
    assert AuditEvent.objects.filter(action="upstream.healthy", target_id=str(upstream.pk)).exists()


async def test_open_breaker_fails_calls_fast_without_reaching_the_upstream(published, closed_pool):
    gateway = _call(published)
    await gateway.initialize()
    assert "result" in await _echo(gateway)
    # The upstream is up: an answer now can only come from the breaker.
    await sync_to_async(breaker.breaker_open)(published.upstream.pk, reason="test")
    started = time.monotonic()
    reply = await _echo(gateway)
    assert time.monotonic() - started < 0.5
    assert reply["error"] == {"code": -32000, "message": "Upstream 'fixture' is unavailable."}


async def test_half_open_trial_after_the_cool_down_closes_the_breaker(published, closed_pool, settings):
    settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS = 1
    gateway = _call(published)
    await gateway.initialize()
    await sync_to_async(breaker.breaker_open)(published.upstream.pk, reason="test")
    assert "error" in await _echo(gateway)
    await asyncio.sleep(1.1)
    assert breaker.breaker_state(published.upstream.pk) == breaker.HALF_OPEN
    assert "result" in await _echo(gateway)
    assert breaker.breaker_state(published.upstream.pk) == breaker.CLOSED


async def test_failed_half_open_trial_opens_the_breaker_again(published, closed_pool, own_upstream, settings):
    settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS = 1
    gateway = _call(published)
    await gateway.initialize()
    await sync_to_async(breaker.breaker_open)(published.upstream.pk, reason="test")
    own_upstream.stop()
    await asyncio.sleep(1.1)
    assert (await _echo(gateway))["error"]["code"] == -32000  # the trial, which reaches the dead upstream
    assert breaker.breaker_state(published.upstream.pk) == breaker.OPEN


def test_dispatch_probes_only_upstreams_that_are_due(published):
    assert health_checks_dispatch() == 1  # eager: the probe ran
    assert HealthCheck.objects.filter(upstream=published.upstream).count() == 1
    assert health_checks_dispatch() == 0  # probed a moment ago; the interval has not passed
    UpstreamHealth.objects.filter(upstream=published.upstream).update(interval_seconds=1)
    time.sleep(1.1)
    assert health_checks_dispatch() == 1


async def test_request_that_already_passed_this_gateway_is_refused(published, closed_pool):
    gateway = _call(published)
    response = await gateway.send(
        gateway.request("ping"), via=f"1.1 other-gateway, 1.1 {django_settings.GATEHOUSE_INSTANCE_ID}"
    )
    assert response["status"] == 508 and "Loop detected" in response["json"]["error"]["message"]
    response = await gateway.send(gateway.request("ping"), via="1.1 other-gateway")
    assert response["status"] != 508


def test_gateway_registered_as_its_own_upstream_is_refused_as_a_loop(published, tmp_path):
    """A gateway process with this instance id: discovering one of its virtual servers sends our Via header, which
    it recognises, so the loop never forms."""
    from catalog import services as catalog_services

    env = {"GATEHOUSE_INSTANCE_ID": django_settings.GATEHOUSE_INSTANCE_ID}
    with gatehouse_server(connection.settings_dict, Path(tmp_path) / "gw.log", env) as base:
        upstream = catalog_services.upstream_create(
            owner=published.owner, name="myself", url=f"{base}/servers/health/mcp", timeout_seconds=5,
            auth_type="bearer", credentials={"token": published.token},
        )
        report = catalog_services.upstream_discover(upstream=upstream)
    assert not report.ok and "Loop detected" in report.error
    # The same set-up with a gateway of another instance id is no loop: Via alone made the difference.
    with gatehouse_server(connection.settings_dict, Path(tmp_path) / "peer.log", {"GATEHOUSE_INSTANCE_ID": "peer"}) as base:
        upstream.url = f"{base}/servers/health/mcp"
        upstream.save(update_fields=["url"])
        assert catalog_services.upstream_discover(upstream=upstream).ok
