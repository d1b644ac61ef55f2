"""Test settings: local mode with a fast password hasher and a file-backed SQLite test database, so that
end-to-end tests can start a real server process against the same database."""
from __future__ import annotations

from .local import *  # noqa: F403
from .local import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A cheap flush after each transactional test (config.testdb).
    DATABASES["default"]["ENGINE"] = "config.testdb.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # The suite and the server processes it starts write the same file: wait for a lock instead of failing after
    # SQLite's default 5 s ("database is locked") when the machine is busy.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    # The test database is thrown away: a commit need not wait for the disk.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA synchronous=OFF"

ENVIRONMENT = "test"
# The suite makes many calls from one address and reuses token ids; tests of the limits set their own small ones.
GATEHOUSE_LOGIN_RATE_LIMIT_IP = GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT = "100000/m"
GATEHOUSE_API_RATE_LIMIT_USER = GATEHOUSE_API_RATE_LIMIT_IP = "100000/m"
GATEHOUSE_TOKEN_CREATE_RATE_LIMIT = "100000/h"
GATEHOUSE_MCP_RATE_LIMIT = "100000/m"
# ops: tasks run inline in tests, even with a Redis broker; the end-to-end worker/beat processes switch it off.
from config.env import env_bool  # noqa: E402

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A cheap flush after each transactional test: rows deleted instead of tables truncated (config.testdb).
    DATABASES["default"]["ENGINE"] = "config.testdb.postgresql"
    # The test database is thrown away: a commit need not wait for its WAL record to reach the disk. The suite
    # commits after almost every test (transactional tests, the flush between them).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
