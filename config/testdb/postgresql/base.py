"""PostgreSQL for the test suite: the flush deletes rows instead of truncating tables (see config.testdb)."""
from __future__ import annotations

from django.db.backends.postgresql import base, operations

from config.testdb import flushed


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        tables = flushed(tables)
        if reset_sequences or not tables:
            return super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        delete = style.SQL_KEYWORD("DELETE FROM")
        # One round trip: the statements go as one string (psycopg binds client-side, so several are allowed).
        return [" ".join(f"{delete} {style.SQL_FIELD(self.quote_name(table))};" for table in tables)]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
