"""The catalog version only moves forward, even when its row goes back."""
from __future__ import annotations

import pytest

from catalog.models import CatalogVersion
from catalog.version import catalog_version_bump, catalog_version_load

pytestmark = pytest.mark.django_db


def test_each_bump_moves_the_version_forward():
    catalog_version_bump()
    first = catalog_version_load()
    catalog_version_bump()
    assert catalog_version_load() > first


def test_a_recreated_counter_does_not_repeat_an_earlier_version():
    catalog_version_bump()
    seen = catalog_version_load()
    CatalogVersion.objects.all().delete()  # a flushed database
    catalog_version_bump()
    assert catalog_version_load() > seen


def test_a_counter_restored_from_an_old_backup_does_not_repeat_an_earlier_version():
    catalog_version_bump()
    seen = catalog_version_load()
    CatalogVersion.objects.filter(pk=1).update(value=3)  # restored from a backup taken long ago
    catalog_version_bump()
    assert catalog_version_load() > seen
