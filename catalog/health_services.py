"""Upstream health: record each probe, move the upstream between healthy and unhealthy, drive the circuit breaker."""
from __future__ import annotations

import time
from datetime import datetime

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from catalog.health import probe
from catalog.models import HealthCheck, Upstream, UpstreamHealth
from catalog.selectors import upstream_target
from config.batching import delete_in_batches
from proxy.upstream.breaker import CLOSED, breaker_close, breaker_open, breaker_state


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in exc.exceptions)
    if isinstance(exc, TimeoutError):
        return f"no answer within {settings.HEALTH_CHECK_TIMEOUT_SECONDS}s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def upstream_health_check(*, upstream: Upstream, via: str = "task") -> HealthCheck:
    """Probe ``upstream`` once (network first, outside any transaction), then record the outcome."""
    timeout = min(settings.HEALTH_CHECK_TIMEOUT_SECONDS, upstream.timeout_seconds)
    started = time.perf_counter()
    try:
        async_to_sync(probe)(upstream_target(upstream), timeout)
        error = ""
    except Exception as exc:  # noqa: BLE001 - any failure is an unhealthy probe
        error = _reason(exc)[:2000] or "failed"
    latency_ms = int((time.perf_counter() - started) * 1000)
    return _health_record(upstream, ok=not error, latency_ms=latency_ms, error=error, via=via)


@transaction.atomic
def _health_record(upstream: Upstream, *, ok: bool, latency_ms: int, error: str, via: str) -> HealthCheck:
    now = timezone.now()
    check = HealthCheck.objects.create(upstream=upstream, checked_at=now, ok=ok, latency_ms=latency_ms, error=error)
    UpstreamHealth.objects.get_or_create(upstream=upstream)
    health = UpstreamHealth.objects.select_for_update().get(upstream=upstream)
    previous = health.status
    health.last_checked_at, health.last_latency_ms = now, latency_ms
    if ok:
        health.consecutive_failures, health.last_ok_at, health.last_error = 0, now, ""
        health.status = UpstreamHealth.Status.HEALTHY
    else:
        health.consecutive_failures += 1
        health.last_error = error
        if health.consecutive_failures >= settings.UNHEALTHY_THRESHOLD:
            health.status = UpstreamHealth.Status.UNHEALTHY
    if health.status != previous:
        health.status_changed_at = now
        # Going down, and coming back, are worth an audit event; a first healthy probe is not.
        if UpstreamHealth.Status.UNHEALTHY in (health.status, previous):
            audit_record(
                f"upstream.{health.status}",
                via=via,
                target=upstream,
                data={"failures": health.consecutive_failures, "error": error[:500]},
            )
    health.save()
    # The breaker lives in the shared cache: change it only once the new status is committed.
    if health.status == UpstreamHealth.Status.UNHEALTHY:
        transaction.on_commit(lambda: breaker_open(upstream.pk, reason=error))
    elif ok and breaker_state(upstream.pk) != CLOSED:
        transaction.on_commit(lambda: breaker_close(upstream.pk))
    return check


def health_history_purge(*, older_than: datetime, batch_size: int | None = None) -> int:
    return delete_in_batches(HealthCheck.objects.filter(checked_at__lt=older_than), batch_size)


@transaction.atomic
def upstream_health_interval_set(*, health: UpstreamHealth, interval_seconds: int | None, actor) -> UpstreamHealth:
    if interval_seconds is not None and not 1 <= interval_seconds <= 86400:
        raise ValueError("The probe interval must be between 1 and 86400 seconds.")
    UpstreamHealth.objects.filter(pk=health.pk).update(interval_seconds=interval_seconds)
    audit_record(
        "upstream.health_interval", actor=actor, via="admin", target=health.upstream,
        data={"interval_seconds": interval_seconds},
    )
    health.refresh_from_db()
    return health
