from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from catalog.models import Upstream, UpstreamHealth


def upstreams_due_for_check() -> list[int]:
    """Ids of enabled upstreams never probed or whose interval (their own, else the default) has passed."""
    now = timezone.now()
    default = settings.HEALTH_CHECK_INTERVAL_SECONDS
    due = []
    rows = Upstream.objects.filter(enabled=True).values_list("pk", "health__last_checked_at", "health__interval_seconds")
    for pk, last, interval in rows:
        if last is None or last + timedelta(seconds=interval or default) <= now:
            due.append(pk)
    return due


def upstream_health_rows():
    return UpstreamHealth.objects.select_related("upstream").order_by("upstream__slug")
