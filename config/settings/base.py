"""Settings shared by every mode. Everything comes from the environment through config.env."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("GATEHOUSE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = False
ALLOWED_HOSTS: list[str] = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "accounts",
    "teams",
    "tokens",
    "catalog",
    "proxy",
    "audit",
    "django_celery_beat",  # ops: periodic task schedules editable in admin
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Databases: SQLite by default, PostgreSQL (psycopg 3) when DATABASE_URL says so.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis, when configured, carries the cache, the channel layer and the Celery broker.
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # No socket timeout on the channel layer's connections: channels_redis blocks in BZPOPMIN for 5 s per receive,
    # which redis-py 8's default 5 s timeout cuts ("Timeout reading"), and with any timeout redis-py sends through
    # asyncio.wait_for, which on Python 3.11 can swallow the cancellation of a closing consumer's receive, leaving it
    # polling forever. The server-side BZPOPMIN timeout and TCP keepalive bound the wait instead.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "gatehouse"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
# ops: schedules live in the database (django-celery-beat), created by config.schedules and editable in admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PLATFORM_ADMIN_EMAIL = env_str("PLATFORM_ADMIN_EMAIL", "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tokens.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse API",
    "DESCRIPTION": "Management API of the Gatehouse MCP gateway.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# Without collectstatic (local mode, tests) WhiteNoise serves straight from the apps' static folders.
WHITENOISE_USE_FINDERS = True

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]

# Gatehouse itself.
GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS = env_int("GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS", 30, minimum=1)
GATEHOUSE_MCP_MAX_BODY_BYTES = env_int("GATEHOUSE_MCP_MAX_BODY_BYTES", 4 * 1024 * 1024, minimum=1024)
GATEHOUSE_MCP_SESSION_TTL_SECONDS = env_int("GATEHOUSE_MCP_SESSION_TTL_SECONDS", 24 * 3600, minimum=60)
GATEHOUSE_PRINCIPAL_CACHE_SECONDS = env_int("GATEHOUSE_PRINCIPAL_CACHE_SECONDS", 300, minimum=1)
GATEHOUSE_TOOLS_PAGE_SIZE = env_int("GATEHOUSE_TOOLS_PAGE_SIZE", 100, minimum=1)
# Legacy HTTP+SSE streams send a comment this often, so idle proxies and load balancers do not cut them.
GATEHOUSE_SSE_KEEPALIVE_SECONDS = env_int("GATEHOUSE_SSE_KEEPALIVE_SECONDS", 15, minimum=1)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# ops: LOG_FORMAT=json writes one JSON object per line; every line carries the X-Request-ID of its request or task.
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "config.logging_json.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "httpx2": {"level": "WARNING"},
        "mcp": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
    },
}
# Upstreams that are local commands speaking MCP over stdio run with Gatehouse's own privileges: allowed in local
# mode, refused in production unless switched on.
GATEHOUSE_STDIO_UPSTREAMS = env_bool("GATEHOUSE_STDIO_UPSTREAMS", True)
GATEHOUSE_CATALOG_VERSION_TTL_SECONDS = env_int("GATEHOUSE_CATALOG_VERSION_TTL_SECONDS", 2, minimum=1)
# Between an upstream's slug and its tool or prompt name in exposed names: 1-4 characters valid in MCP tool names.
GATEHOUSE_NAME_SEPARATOR = env_str("GATEHOUSE_NAME_SEPARATOR", "__")
if not re.fullmatch(r"[A-Za-z0-9_.-]{1,4}", GATEHOUSE_NAME_SEPARATOR):
    raise ImproperlyConfigured("GATEHOUSE_NAME_SEPARATOR must be 1 to 4 of the characters A-Z a-z 0-9 _ . -")

# ---- Operations (ops): audit archive, retention, upstream health, federation, metrics -------------------------------
AUDIT_ARCHIVE_DIR = Path(env_str("AUDIT_ARCHIVE_DIR", str(VAR_DIR / "audit-archive")))
# Days kept before purging (usage logs, health history) or archiving-then-removing (audit). 0 keeps for ever.
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 365, minimum=0)
RETENTION_HEALTH_DAYS = env_int("RETENTION_HEALTH_DAYS", 14, minimum=0)
RETENTION_USAGE_DAYS = env_int("RETENTION_USAGE_DAYS", 90, minimum=0)
# Rows deleted per transaction, so a purge never holds a table lock for long.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000, minimum=1)
# Upstream health: probe interval (per upstream, overridable), consecutive failures before "unhealthy", and how long an
# open circuit breaker fails calls fast before letting one trial call through (half-open).
HEALTH_CHECK_INTERVAL_SECONDS = env_int("HEALTH_CHECK_INTERVAL_SECONDS", 60, minimum=1)
# How often the scheduler looks for upstreams due a probe (the beat entry; editable in admin once created).
HEALTH_CHECK_TICK_SECONDS = env_int("HEALTH_CHECK_TICK_SECONDS", 10, minimum=1)
HEALTH_CHECK_TIMEOUT_SECONDS = env_int("HEALTH_CHECK_TIMEOUT_SECONDS", 10, minimum=1)
UNHEALTHY_THRESHOLD = env_int("UNHEALTHY_THRESHOLD", 3, minimum=1)
CIRCUIT_BREAKER_COOLDOWN_SECONDS = env_int("CIRCUIT_BREAKER_COOLDOWN_SECONDS", 30, minimum=1)
FEDERATION_SYNC_INTERVAL_SECONDS = env_int("FEDERATION_SYNC_INTERVAL_SECONDS", 900, minimum=60)
# This gateway's name in Via headers; a request that already passed through it is a federation loop and is refused.
# Every process of one deployment shares a database, so by default the id is derived from where that database is.
GATEHOUSE_INSTANCE_ID = env_str("GATEHOUSE_INSTANCE_ID", "") or "gatehouse-" + hashlib.sha256(
    repr([DATABASES["default"].get(key) for key in ("ENGINE", "HOST", "PORT", "NAME")]).encode()
).hexdigest()[:12]
if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", GATEHOUSE_INSTANCE_ID):
    raise ImproperlyConfigured("GATEHOUSE_INSTANCE_ID must be 1 to 64 of the characters A-Z a-z 0-9 . _ -")
# /metrics: a bearer token (or a platform admin's session); without either it answers 404.
METRICS_TOKEN = env_secret("METRICS_TOKEN", "") or ""
# Several worker processes: set PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself, before any metric exists)
# to an empty directory shared by the processes, and /metrics sums them (config/metrics.py).
