from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender, using="default", **kwargs) -> None:
    from django.db import connections
    from django_celery_beat.models import PeriodicTask

    from config.schedules import schedules_ensure

    # `migrate catalog` alone may leave django-celery-beat's tables for later: then there is nothing to fill yet.
    if PeriodicTask._meta.db_table in connections[using].introspection.table_names():
        schedules_ensure()


class CatalogConfig(AppConfig):
    name = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After every migrate the periodic tasks exist (config.schedules), so beat has work from the first start.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="catalog.ensure_schedules")
