"""The catalog version: the signal that tells every data-plane process to rebuild its cached views.

It changes whenever what any principal can see or call changes (catalog edits, token revocation, membership). It lives
in the database, bumped inside the writing transaction; the shared cache holds a copy for a few seconds, so a warm
data-plane process reads the cache only, and without a shared cache (local mode) every process still notices within
GATEHOUSE_CATALOG_VERSION_TTL_SECONDS.
"""
from __future__ import annotations

import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from catalog.models import CatalogVersion
from config.cache import process_cache

CACHE_KEY = "gatehouse:catalog-version"


def catalog_version_bump() -> None:
    # Never below the clock (in microseconds): a counter that went back (a restored backup, a flushed database)
    # must not repeat a version a running process still holds cached views for.
    floor = time.time_ns() // 1_000
    updated = CatalogVersion.objects.filter(pk=1).update(value=Greatest(F("value") + 1, Value(floor)))
    if not updated:
        CatalogVersion.objects.get_or_create(pk=1, defaults={"value": floor})
    transaction.on_commit(lambda: process_cache().delete(CACHE_KEY))


def catalog_version_load() -> int:
    """Read the version from the database and refresh the cached copy."""
    value = CatalogVersion.objects.filter(pk=1).values_list("value", flat=True).first() or 0
    process_cache().set(CACHE_KEY, value, settings.GATEHOUSE_CATALOG_VERSION_TTL_SECONDS)
    return value


async def catalog_version_current() -> int:
    """The data plane's read: the cached copy, or the database when it has expired."""
    version = process_cache().get(CACHE_KEY)
    if version is None:
        version = await database_sync_to_async(catalog_version_load)()
    return version
