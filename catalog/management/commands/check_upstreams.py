from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.health_services import upstream_health_check
from catalog.management.commands._upstreams import selected_upstreams
from catalog.models import UpstreamHealth
from proxy.upstream.breaker import breaker_state


class Command(BaseCommand):
    help = (
        "Probe upstreams now (MCP handshake and ping, with HEALTH_CHECK_TIMEOUT_SECONDS), record the result as the "
        "scheduled check would (UNHEALTHY_THRESHOLD failures in a row mark an upstream unhealthy and open its circuit "
        "breaker) and print each verdict. Exits 1 when any upstream is unhealthy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--upstream", action="append", help="Slug or name; repeat for several.")

    def handle(self, *args, upstream=None, **options):
        upstreams = selected_upstreams(upstream)
        unhealthy = 0
        for index, item in enumerate(upstreams, 1):
            check = upstream_health_check(upstream=item, via="cli")
            health = UpstreamHealth.objects.get(upstream=item)
            unhealthy += health.status == UpstreamHealth.Status.UNHEALTHY
            verdict = "ok" if check.ok else f"failed ({check.error})"
            self.stdout.write(
                f"[{index}/{len(upstreams)}] {item.slug}: {verdict} in {check.latency_ms} ms; {health.status}, "
                f"breaker {breaker_state(item.pk)}"
            )
        if unhealthy:
            raise CommandError(f"{unhealthy} upstream(s) unhealthy.")
