"""Celery tasks: take ids, load rows, call services."""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from catalog.federation import upstream_sync
from catalog.health_selectors import upstreams_due_for_check
from catalog.health_services import upstream_health_check
from catalog.models import Upstream
from config.cache import process_cache
from config.tasks import enqueue

_PROBING = "gatehouse:probing:{}"


@shared_task(ignore_result=True)
def health_checks_dispatch() -> int:
    """Enqueue a probe for every upstream that is due; an upstream already being probed is skipped."""
    sent = 0
    for upstream_id in upstreams_due_for_check():
        if process_cache().add(_PROBING.format(upstream_id), 1, settings.HEALTH_CHECK_TIMEOUT_SECONDS + 5):
            enqueue(health_check_upstream, upstream_id)
            sent += 1
    return sent


@shared_task(ignore_result=True)
def health_check_upstream(upstream_id: int) -> None:
    upstream = Upstream.objects.filter(pk=upstream_id, enabled=True).first()
    try:
        if upstream is not None:
            upstream_health_check(upstream=upstream, via="task")
    finally:
        process_cache().delete(_PROBING.format(upstream_id))


@shared_task(ignore_result=True)
def federation_sync_all() -> int:
    ids = list(Upstream.objects.filter(enabled=True).values_list("pk", flat=True))
    for upstream_id in ids:
        enqueue(federation_sync_upstream, upstream_id)
    return len(ids)


@shared_task(ignore_result=True)
def federation_sync_upstream(upstream_id: int) -> None:
    upstream = Upstream.objects.filter(pk=upstream_id, enabled=True).first()
    if upstream is not None:
        upstream_sync(upstream=upstream, via="task")
