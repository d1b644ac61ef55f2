"""Test settings: local mode with a fast password hasher and a file-backed SQLite test database, so that
end-to-end tests can start a real server process against the same database."""
from __future__ import annotations

from .local import *  # noqa: F403
from .local import DATABASES, VAR_DIR

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# ops: tasks run inline in tests, even with a Redis broker; the end-to-end worker/beat processes switch it off.
from config.env import env_bool  # noqa: E402

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
