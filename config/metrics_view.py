"""GET /metrics: Prometheus text format, for a bearer METRICS_TOKEN or a platform admin's session; 401 otherwise."""
from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from config.metrics import ACTIVE_WINDOW_SECONDS, active_sessions


def _allowed(request: HttpRequest) -> bool:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if settings.METRICS_TOKEN and scheme.lower() == "bearer" and credential:
        return hmac.compare_digest(credential.encode(), settings.METRICS_TOKEN.encode())
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_superuser)


class GatewayStateCollector:
    """Gauges read at scrape time: upstream health and breakers (shared state), pooled sessions (this process)."""

    def collect(self):
        from catalog.health_selectors import upstream_health_rows
        from catalog.models import Upstream
        from proxy.upstream.breaker import CLOSED, breaker_state
        from proxy.upstream.pool import upstream_pool_sizes

        up = GaugeMetricFamily("gatehouse_upstream_up", "1 when the last health verdict is healthy.", labels=["upstream"])
        failures = GaugeMetricFamily(
            "gatehouse_upstream_consecutive_failures", "Failed probes in a row.", labels=["upstream"]
        )
        breaker = GaugeMetricFamily(
            "gatehouse_upstream_breaker_open", "1 while the circuit breaker is open or half-open.", labels=["upstream"]
        )
        for health in upstream_health_rows():
            slug = health.upstream.slug
            up.add_metric([slug], 1.0 if health.status == health.Status.HEALTHY else 0.0)
            failures.add_metric([slug], health.consecutive_failures)
            breaker.add_metric([slug], 0.0 if breaker_state(health.upstream_id) == CLOSED else 1.0)
        yield from (up, failures, breaker)
        pools = GaugeMetricFamily(
            "gatehouse_upstream_pool_sessions", "Open pooled upstream sessions in this process.", labels=["upstream"]
        )
        sizes = upstream_pool_sizes()
        slugs = dict(Upstream.objects.filter(pk__in=sizes).values_list("pk", "slug"))
        for upstream_id, count in sizes.items():
            pools.add_metric([slugs.get(upstream_id, str(upstream_id))], count)
        yield pools
        sessions = GaugeMetricFamily(
            "gatehouse_mcp_sessions_active",
            f"MCP sessions that made a request to this process in the last {ACTIVE_WINDOW_SECONDS}s.",
            labels=["server"],
        )
        for server, count in active_sessions().items():
            sessions.add_metric([server], count)
        yield sessions


def metrics_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    state = CollectorRegistry()
    state.register(GatewayStateCollector())
    body = generate_latest(metrics_registry()) + generate_latest(state)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
