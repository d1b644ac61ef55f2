"""SQLite for the test suite: the flush leaves the content type and permission tables alone (see config.testdb)."""
from __future__ import annotations

from django.db.backends.sqlite3 import base, operations

from config.testdb import flushed


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        return super().sql_flush(style, flushed(tables), reset_sequences=reset_sequences, allow_cascade=allow_cascade)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
