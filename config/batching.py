"""Deleting many rows without holding a table lock for long: short transactions of a bounded number of rows."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet


def delete_in_batches(queryset: QuerySet, batch_size: int | None = None) -> int:
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            queryset.model.objects.filter(pk__in=ids).delete()
            deleted += len(ids)
