"""One cache handle per process for the data plane.

``django.core.cache.cache`` gives every async context its own backend instance; with Redis that is a new connection
pool, and a new TCP connection, for every MCP request. The data plane reads through this single handle instead.
"""
from __future__ import annotations

import functools

from django.core.cache import DEFAULT_CACHE_ALIAS, BaseCache, caches


@functools.cache
def process_cache() -> BaseCache:
    return caches.create_connection(DEFAULT_CACHE_ALIAS)
