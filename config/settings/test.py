"""Test settings: local mode with a fast password hasher and a file-backed SQLite test database, so that
end-to-end tests can start a real server process against the same database."""
from __future__ import annotations

from .local import *  # noqa: F403
from .local import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    # The suite and the server processes it starts write the same file: wait for a lock instead of failing after
    # SQLite's default 5 s ("database is locked") when the machine is busy.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30

ENVIRONMENT = "test"
# The suite makes many calls from one address and reuses token ids; tests of the limits set their own small ones.
GATEHOUSE_LOGIN_RATE_LIMIT_IP = GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT = "100000/m"
GATEHOUSE_API_RATE_LIMIT_USER = GATEHOUSE_API_RATE_LIMIT_IP = "100000/m"
GATEHOUSE_TOKEN_CREATE_RATE_LIMIT = "100000/h"
GATEHOUSE_MCP_RATE_LIMIT = "100000/m"
# ops: tasks run inline in tests, even with a Redis broker; the end-to-end worker/beat processes switch it off.
from config.env import env_bool  # noqa: E402

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
