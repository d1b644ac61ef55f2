from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app
from config.schedules import schedules_ensure


def test_celery_speaks_json_only_with_time_limits():
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_broker_is_redis_when_configured_else_in_memory(settings):
    assert app.conf.broker_url == (settings.REDIS_URL or "memory://")


def test_embedded_defaults_run_tasks_eagerly():
    import config.settings.base as base

    assert base.CELERY_TASK_ALWAYS_EAGER == (base.CELERY_BROKER_URL == "memory://")


@pytest.mark.django_db
def test_schedules_are_created_once_and_admin_edits_survive():
    PeriodicTask.objects.all().delete()
    assert len(schedules_ensure()) == 3
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"catalog.tasks.health_checks_dispatch", "catalog.tasks.federation_sync_all", "audit.tasks.retention_purge"} <= tasks
    edited = PeriodicTask.objects.get(name="Retention")
    edited.interval = IntervalSchedule.objects.create(every=7, period=IntervalSchedule.DAYS)
    edited.save()
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert "already exists" in out.getvalue()
    assert PeriodicTask.objects.get(name="Retention").interval.every == 7


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    for name in ("catalog.tasks.health_checks_dispatch", "catalog.tasks.federation_sync_all", "audit.tasks.retention_purge"):
        assert name in app.tasks
