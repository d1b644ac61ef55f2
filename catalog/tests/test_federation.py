from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.retention import retention_run
from catalog.federation import upstream_sync
from catalog.models import HealthCheck, Tool
from catalog.tasks import federation_sync_all
from tests.processes import FixtureUpstream
from tests.published import upstream_registered

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_records_new_and_vanished_tools_as_a_diff(owner):
    upstream_process = FixtureUpstream(hide=("add",)).start()
    try:
        upstream = upstream_registered(owner, upstream_process.url)
        assert not Tool.objects.filter(upstream=upstream, original_name="add").exists()
        upstream_process.stop()
        upstream_process.hide = ("echo",)
        upstream_process.start()
        report, diff = upstream_sync(upstream=upstream)
    finally:
        upstream_process.stop()
    assert report.ok
    assert diff.new == {"tools": ["add"]} and diff.vanished == {"tools": ["echo"]} and diff.changed == {}
    event = AuditEvent.objects.get(action="upstream.sync")
    assert event.data["new"] == {"tools": ["add"]} and event.via == "task"


def test_unchanged_upstream_syncs_without_an_event(owner, upstream_process):
    upstream = upstream_registered(owner, upstream_process.url)
    assert federation_sync_all() == 1  # eager: ran the per-upstream task too
    assert not AuditEvent.objects.filter(action="upstream.sync").exists()
    assert Tool.objects.filter(upstream=upstream, missing_since__isnull=True).exists()


def test_retention_purges_only_old_health_history_in_batches(owner, upstream_process, settings):
    settings.RETENTION_HEALTH_DAYS = 7
    upstream = upstream_registered(owner, upstream_process.url)
    now = timezone.now()
    for days in (30, 20, 8, 6, 0):
        HealthCheck.objects.create(upstream=upstream, checked_at=now - timedelta(days=days), ok=True, latency_ms=1)
    removed = retention_run(now=now, batch_size=2)
    assert removed["health_checks"] == 3
    assert sorted((now - c.checked_at).days for c in HealthCheck.objects.all()) == [0, 6]
