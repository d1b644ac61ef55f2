from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """allauth keeps its per-IP login rate limits in the cache; every test client logs in from 127.0.0.1."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
