"""The periodic tasks Gatehouse needs, created in django-celery-beat's tables when missing (never overwritten, so
an operator's edits in admin stick)."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction


def _schedules() -> list[tuple[str, str, int]]:
    return [
        ("Upstream health checks", "catalog.tasks.health_checks_dispatch", settings.HEALTH_CHECK_TICK_SECONDS),
        ("Federation sync", "catalog.tasks.federation_sync_all", settings.FEDERATION_SYNC_INTERVAL_SECONDS),
        ("Retention", "audit.tasks.retention_purge", 3600),
    ]


@transaction.atomic
def schedules_ensure() -> list[str]:
    """Create the missing periodic tasks, all or none; returns the names created."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    created = []
    for name, task, seconds in _schedules():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.create(name=name, task=task, interval=interval)
        created.append(name)
    return created
