"""Database engines for the test suite only (config.settings.test): the flush after each transactional test is cheap.

Django's flush empties every table, then its post_migrate signal creates every content type and permission again:
about 0.3 s of Python per flush for this schema, and the suite flushes after most of its tests. These engines leave
the content type and permission tables alone (migrations fill them, no test changes them), and the root conftest
disconnects the two signal handlers that would only find them complete. On PostgreSQL the flush also deletes rows
instead of truncating tables: TRUNCATE gives every table and index a new file (about 0.4 s more per flush), while
DELETE on tables that hold a handful of rows takes milliseconds. Django's foreign keys on PostgreSQL are DEFERRABLE
INITIALLY DEFERRED, so the order of the DELETEs does not matter inside the flush's transaction.
"""
from __future__ import annotations

KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})


def flushed(tables) -> list[str]:
    """The tables a flush empties: all but KEPT_TABLES."""
    return [table for table in tables if table not in KEPT_TABLES]
