"""/metrics through the real ASGI application, parsed with the Prometheus client's own parser."""
from __future__ import annotations


import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from prometheus_client.parser import text_string_to_metric_families

from catalog.health_services import upstream_health_check
from proxy.tests.conftest import Gateway, closed_pool  # noqa: F401 - a fixture
from tests.published import upstream_published

pytestmark = pytest.mark.django_db(transaction=True)
METRICS_TOKEN = "metrics-token-for-tests-0123456789"


async def _scrape(token: str | None = METRICS_TOKEN) -> tuple[int, str]:
    from config.asgi import application

    headers = [(b"host", b"127.0.0.1:8000")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    response = await HttpCommunicator(application, "GET", "/metrics", headers=headers).get_response(timeout=10)
    return response["status"], response["body"].decode()


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def published(upstream_process, settings):
    settings.METRICS_TOKEN = METRICS_TOKEN
    return upstream_published(email="metrics@example.com", url=upstream_process.url, server_slug="metered")


async def test_metrics_count_the_calls_made_through_the_gateway(published, closed_pool):
    await sync_to_async(upstream_health_check)(upstream=published.upstream)
    _, text = await _scrape()
    before = _samples(text)
    gateway = Gateway("/servers/metered/mcp", published.token)
    await gateway.initialize()
    for text_arg in ("a", "b", "c"):
        response = await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": text_arg}}))
        assert "result" in response["json"]
    response = await gateway.send(gateway.request("tools/call", {"name": "no-such-tool", "arguments": {}}))
    assert response["json"]["error"]["code"] == -32602
    await gateway.send(gateway.request("tools/list"))

    status, text = await _scrape()
    assert status == 200
    after = _samples(text)

    def delta(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    echo = {"server": "metered", "method": "tools/call", "tool": "fixture__echo"}
    assert delta("gatehouse_mcp_requests_total", **echo) == 3
    assert delta("gatehouse_mcp_request_duration_seconds_count", **echo) == 3
    unknown = {"server": "metered", "method": "tools/call", "tool": ""}
    assert delta("gatehouse_mcp_errors_total", **unknown, code="-32602") == 1
    assert delta("gatehouse_mcp_requests_total", server="metered", method="tools/list", tool="") == 1
    assert delta("gatehouse_upstream_requests_total", upstream="fixture") == 3
    assert delta("gatehouse_upstream_request_duration_seconds_count", upstream="fixture") == 3
    assert _value(after, "gatehouse_upstream_up", upstream="fixture") == 1
    assert _value(after, "gatehouse_upstream_breaker_open", upstream="fixture") == 0
    assert _value(after, "gatehouse_upstream_pool_sessions", upstream="fixture") == 1
    assert _value(after, "gatehouse_mcp_sessions_active", server="metered") == 1


async def test_metrics_refuse_without_the_token(published):
    assert (await _scrape(None))[0] == 401
    assert (await _scrape("wrong-token"))[0] == 401


def test_metrics_for_a_platform_admin_session_only(client, admin_user, owner, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 401
    client.force_login(owner)
    assert client.get("/metrics").status_code == 401
    client.force_login(admin_user)
    response = client.get("/metrics")
    assert response.status_code == 200 and b"gatehouse_mcp_requests" in response.content


def test_histogram_quantiles_are_interpolated_within_buckets():
    from config.metrics_stats import _quantile

    cumulative = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert _quantile(0.5, cumulative) == pytest.approx(0.1)
    assert _quantile(0.7, cumulative) == pytest.approx(0.3)
    assert _quantile(0.95, cumulative) == pytest.approx(0.75)
    assert _quantile(0.5, []) is None


async def test_admin_shows_per_tool_statistics(published, admin_user, closed_pool):
    from django.test import AsyncClient

    gateway = Gateway("/servers/metered/mcp", published.token)
    await gateway.initialize()
    for _ in range(2):
        await gateway.send(gateway.request("tools/call", {"name": "fixture__fail", "arguments": {}}))
    client = AsyncClient()
    await sync_to_async(client.force_login)(admin_user)
    page = (await client.get("/admin/catalog/upstreamhealth/statistics/")).content.decode()
    row = page[page.index("<td>metered</td><td>fixture__fail</td>"):].split("</tr>")[0]
    assert "<td>metered</td><td>fixture__fail</td><td>" in row
    calls, errors = [int(cell.split("<")[0]) for cell in row.split("<td>")[3:5]]
    assert calls >= 2 and errors == 0  # a tool's isError result is an answer, not a protocol error


def test_multiprocess_mode_sums_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, counts made by two separate processes show up summed in a third's scrape."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    count = "import django; django.setup(); from config.metrics import MCP_REQUESTS; MCP_REQUESTS.labels('s', 'tools/call', 't').inc(3)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    scrape = (
        "import django; django.setup(); from prometheus_client import generate_latest; "
        "from config.metrics_view import metrics_registry; print(generate_latest(metrics_registry()).decode())"
    )
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True, text=True).stdout
    samples = _samples(text)
    assert _value(samples, "gatehouse_mcp_requests_total", server="s", method="tools/call", tool="t") == 6
