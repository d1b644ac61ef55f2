"""Settings shared by every mode. Everything comes from the environment through config.env."""
from __future__ import annotations

import hashlib
import ipaddress
import re
from pathlib import Path

import dj_database_url
from csp.constants import NONCE as CSP_NONCE
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
    # --- identity: allauth (accounts, SSO, MFA) ---
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.microsoft",
    "allauth.socialaccount.providers.okta",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    # --- end identity ---
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
    "accounts.request_context.RequestContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.StaffMFAMiddleware",
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
                "accounts.context_processors.identity",
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
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Every transaction takes SQLite's write lock when it begins, and waits for it. With deferred transactions, one
    # that read first and then writes while another connection (a thread, the Celery worker) commits fails at once
    # with "database is locked": SQLite refuses to wait there because both could be waiting for each other.
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
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
# --- Identity: passwords (accounts) ---------------------------------------------------------------------------
# Argon2id first; its costs are tunable (argon2-cffi's RFC 9106 "low memory" profile is the default). PBKDF2 stays
# second so hashes imported from elsewhere still verify and are upgraded at the next login.
ARGON2_TIME_COST = env_int("ARGON2_TIME_COST", 3, minimum=1)
ARGON2_MEMORY_COST = env_int("ARGON2_MEMORY_COST", 65536, minimum=8)  # KiB
ARGON2_PARALLELISM = env_int("ARGON2_PARALLELISM", 4, minimum=1)
PASSWORD_HASHERS = [
    "accounts.hashers.GatehouseArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
PASSWORD_MIN_LENGTH = env_int("PASSWORD_MIN_LENGTH", 12, minimum=8)
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["email", "full_name"]},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "accounts.validators.ComplexityValidator", "OPTIONS": {"min_classes": 3}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# --- end of identity: passwords ---------------------------------------------------------------------------------
PLATFORM_ADMIN_EMAIL = env_str("PLATFORM_ADMIN_EMAIL", "")

# --- Identity: lockout, allauth, SSO, MFA, mail (accounts) --------------------------------------------------------
MAX_FAILED_LOGIN_ATTEMPTS = env_int("MAX_FAILED_LOGIN_ATTEMPTS", 5, minimum=1)
FAILED_LOGIN_WINDOW_MINUTES = env_int("FAILED_LOGIN_WINDOW_MINUTES", 15, minimum=1)
ACCOUNT_LOCKOUT_DURATION_MINUTES = env_int("ACCOUNT_LOCKOUT_DURATION_MINUTES", 15, minimum=1)
# One backend: every password login goes through the lockout check (see accounts/backends.py).
AUTHENTICATION_BACKENDS = ["accounts.backends.LockoutModelBackend"]

ADMIN_URL = env_str("ADMIN_URL", "admin/").strip("/") + "/"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "account_home"
PUBLIC_REGISTRATION_ENABLED = env_bool("PUBLIC_REGISTRATION_ENABLED", False)
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm"}
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PREVENT_ENUMERATION = True
# Accounts are made by admins unless registration is public; self-registered addresses must be proven.
ACCOUNT_EMAIL_VERIFICATION = env_str(
    "ACCOUNT_EMAIL_VERIFICATION", "mandatory" if PUBLIC_REGISTRATION_ENABLED else "optional"
)
if ACCOUNT_EMAIL_VERIFICATION not in ("mandatory", "optional", "none"):
    raise ImproperlyConfigured("ACCOUNT_EMAIL_VERIFICATION must be mandatory, optional or none.")
# Per-account guessing is stopped by our lockout (which also covers the admin and API); allauth keeps its per-IP
# limit on top.
ACCOUNT_RATE_LIMITS = {"login_failed": "20/m/ip"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Gatehouse] "
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "gatehouse@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# SSO: providers from the environment (config/settings/sso.py) or from the admin's Social applications. A first SSO
# login provisions the user, if the address is in SSO_ALLOWED_EMAIL_DOMAINS (empty: any domain).
from config.settings.sso import socialaccount_providers  # noqa: E402

SOCIALACCOUNT_PROVIDERS = socialaccount_providers()
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_REQUIRED = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
# An SSO login whose IdP vouches for the address signs in the existing local account with that address.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = env_bool("SSO_LINK_BY_VERIFIED_EMAIL", True)
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = SOCIALACCOUNT_EMAIL_AUTHENTICATION
SSO_ALLOWED_EMAIL_DOMAINS = [domain.lower().lstrip("@") for domain in env_list("SSO_ALLOWED_EMAIL_DOMAINS")]
SSO_AUTO_PROVISION = env_bool("SSO_AUTO_PROVISION", True)

# MFA: TOTP, WebAuthn security keys and recovery codes. Staff must enrol before the admin opens when
# MFA_REQUIRED_FOR_STAFF (on in production settings).
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "Gatehouse")
MFA_REQUIRED_FOR_STAFF = env_bool("MFA_REQUIRED_FOR_STAFF", False)
# Only an admin can create accounts unless registration is public, so nobody can squat an address with MFA.
MFA_ALLOW_UNVERIFIED_EMAIL = not PUBLIC_REGISTRATION_ENABLED
# --- end of identity: lockout, allauth, SSO, MFA, mail -------------------------------------------------------------

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
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated", "teams.scoping.NotServerScoped"],
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
# An upstream's tool result, resource contents or prompt over this many bytes (as JSON) is answered with an error.
GATEHOUSE_MAX_RESULT_BYTES = env_int("GATEHOUSE_MAX_RESULT_BYTES", 8 * 1024 * 1024, minimum=1024)
GATEHOUSE_MCP_SESSION_TTL_SECONDS = env_int("GATEHOUSE_MCP_SESSION_TTL_SECONDS", 24 * 3600, minimum=60)
GATEHOUSE_PRINCIPAL_CACHE_SECONDS = env_int("GATEHOUSE_PRINCIPAL_CACHE_SECONDS", 300, minimum=1)
GATEHOUSE_TOOLS_PAGE_SIZE = env_int("GATEHOUSE_TOOLS_PAGE_SIZE", 100, minimum=1)
# Legacy HTTP+SSE streams send a comment this often, so idle proxies and load balancers do not cut them.
GATEHOUSE_SSE_KEEPALIVE_SECONDS = env_int("GATEHOUSE_SSE_KEEPALIVE_SECONDS", 15, minimum=1)
# Open streams (GET, legacy SSE, WebSocket) look for catalog changes this often and send list_changed.
GATEHOUSE_LIST_CHANGED_SECONDS = env_int("GATEHOUSE_LIST_CHANGED_SECONDS", 2, minimum=1)
# An upstream session bound to one client session closes after this long without a call.
GATEHOUSE_BOUND_SESSION_IDLE_SECONDS = env_int("GATEHOUSE_BOUND_SESSION_IDLE_SECONDS", 300, minimum=5)
# A call for a bound session owned by another process waits this long for the owner to take it; an owner that does
# not (process gone) loses the session to the caller's process, which opens a fresh one.
GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS = env_int("GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS", 2, minimum=1)
# A stdio upstream's process is stopped after this long without a call (started again on the next one), and a
# command that fails to start is retried after 1, 2, 4 … up to the maximum seconds.
GATEHOUSE_STDIO_IDLE_SECONDS = env_int("GATEHOUSE_STDIO_IDLE_SECONDS", 600, minimum=5)
GATEHOUSE_STDIO_RESTART_BACKOFF_MAX_SECONDS = env_int("GATEHOUSE_STDIO_RESTART_BACKOFF_MAX_SECONDS", 60, minimum=1)
# Events of Streamable HTTP streams are kept this long for Last-Event-ID resumption.
GATEHOUSE_EVENT_RETENTION_SECONDS = env_int("GATEHOUSE_EVENT_RETENTION_SECONDS", 3600, minimum=60)

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

# ---- Hardening (SSRF guard, headers, well-known, posture, rate limits) -------------------------------------------
# Networks outbound connections may reach although they are internal (loopback, private, link-local...), as a
# comma-separated CIDR list. Empty in production: upstreams must be public unless an operator admits a range.
GATEHOUSE_EGRESS_ALLOW = tuple(env_list("GATEHOUSE_EGRESS_ALLOW"))
for _cidr in GATEHOUSE_EGRESS_ALLOW:
    try:
        ipaddress.ip_network(_cidr, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"GATEHOUSE_EGRESS_ALLOW: {_cidr!r} is not an IP network (CIDR).") from None

# Upstream OAuth (catalog.oauth): authorization servers whose issuer Gatehouse may register itself with (RFC 7591
# dynamic client registration) when an oauth_user upstream has no client id. Empty: none (an admin sets the client).
GATEHOUSE_UPSTREAM_OAUTH_DCR_ISSUERS = env_list("GATEHOUSE_UPSTREAM_OAUTH_DCR_ISSUERS")
# How long a started connect (its state and PKCE verifier in the user's session) may take to come back.
GATEHOUSE_UPSTREAM_OAUTH_STATE_TTL_SECONDS = env_int("GATEHOUSE_UPSTREAM_OAUTH_STATE_TTL_SECONDS", 600, minimum=30)
# An upstream access token is refreshed this many seconds before it expires.
GATEHOUSE_UPSTREAM_OAUTH_REFRESH_MARGIN_SECONDS = env_int("GATEHOUSE_UPSTREAM_OAUTH_REFRESH_MARGIN_SECONDS", 30, minimum=0)

# Headers and cookies. ENVIRONMENT is set by each settings module (local, test, production), never by the env.
ENVIRONMENT = "local"
# The public host name Gatehouse is served under (e.g. gatehouse.example.com): trusted for CSRF, named in metadata.
APP_DOMAIN = env_str("APP_DOMAIN", "")
# Origins whose browser code may call the API cross-origin (CORS), e.g. https://portal.example.com. None by default.
ALLOWED_ORIGINS = env_list("ALLOWED_ORIGINS")
INSTALLED_APPS += ["csp", "corsheaders"]
MIDDLEWARE.insert(1, "config.middleware.SecurityHeadersMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.common.CommonMiddleware"), "corsheaders.middleware.CorsMiddleware")
MIDDLEWARE.append("csp.middleware.CSPMiddleware")
MIDDLEWARE.append("accounts.middleware.SsoFormActionMiddleware")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("csp.context_processors.nonce")
# Strict: only our own origin, no inline script without this response's nonce, no plugins, no framing, no <base>.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", CSP_NONCE],
        # allauth's email/phone change pages hide a form with style="display: none": admit that one attribute only.
        "style-src": ["'self'", "'unsafe-hashes'", "'sha256-ZdHxw9eWtnxUb3mk6tBS+gIiVUPE3pGM470keHPDFlE='"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), browsing-topics=()"
)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, *([f"https://{APP_DOMAIN}"] if APP_DOMAIN else [])]
CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/(api/v1/|\.well-known/).*$"
CORS_ALLOW_CREDENTIALS = False

# Well-known documents. GATEHOUSE_PUBLIC_URL is the canonical base URL clients use (https://gatehouse.example.com);
# it names the resource in OAuth metadata and in the MCP 401's resource_metadata.
GATEHOUSE_PUBLIC_URL = env_str("GATEHOUSE_PUBLIC_URL", f"https://{APP_DOMAIN}" if APP_DOMAIN else "")
GATEHOUSE_AUTHORIZATION_SERVERS = env_list("GATEHOUSE_AUTHORIZATION_SERVERS")
GATEHOUSE_RESOURCE_SCOPES = env_list("GATEHOUSE_RESOURCE_SCOPES")
# robots.txt body ("\n" for line breaks); crawlers are kept out of a gateway by default.
GATEHOUSE_ROBOTS_TXT = env_str("GATEHOUSE_ROBOTS_TXT", "User-agent: *\nDisallow: /\n")
# security.txt (RFC 9116): published only with at least one contact (mailto: or https: URI).
SECURITY_TXT_CONTACTS = env_list("SECURITY_TXT_CONTACTS")
SECURITY_TXT_EXPIRES = env_str("SECURITY_TXT_EXPIRES", "")  # ISO 8601, e.g. 2027-06-30T00:00:00Z; default +180 days
SECURITY_TXT_POLICY = env_str("SECURITY_TXT_POLICY", "")
SECURITY_TXT_LANGUAGES = env_str("SECURITY_TXT_LANGUAGES", "en")

# Posture and feature flags. REQUIRE_STRONG_SECRETS turns every posture warning (gatehouse.W0xx) into an error
# (gatehouse.E0xx) that stops manage.py commands and the ASGI application from starting.
REQUIRE_STRONG_SECRETS = env_bool("REQUIRE_STRONG_SECRETS", False)
INSTALLED_APPS += ["config.apps.GatehouseConfig"]
GATEHOUSE_ADMIN_UI = env_bool("GATEHOUSE_ADMIN_UI", True)  # off: /admin/ answers 404
GATEHOUSE_MANAGEMENT_API = env_bool("GATEHOUSE_MANAGEMENT_API", True)  # off: /api/v1/ answers 404
GATEHOUSE_HEADER_PASSTHROUGH = env_bool("GATEHOUSE_HEADER_PASSTHROUGH", False)
GATEHOUSE_REST_TOOLS = env_bool("GATEHOUSE_REST_TOOLS", False)
GATEHOUSE_BULK_IMPORT = env_bool("GATEHOUSE_BULK_IMPORT", False)

# Rate limits ("count/s|m|h|d"; empty switches one off). They live in the cache, so with Redis they hold across
# processes; every window ends by itself. Login: per client IP and per account name (429 + Retry-After).
GATEHOUSE_LOGIN_RATE_LIMIT_IP = env_str("GATEHOUSE_LOGIN_RATE_LIMIT_IP", "30/m")
GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT = env_str("GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT", "10/m")
# Management API: per user, per client IP, and token creation per user.
GATEHOUSE_API_RATE_LIMIT_USER = env_str("GATEHOUSE_API_RATE_LIMIT_USER", "1200/m")
GATEHOUSE_API_RATE_LIMIT_IP = env_str("GATEHOUSE_API_RATE_LIMIT_IP", "2400/m")
GATEHOUSE_TOKEN_CREATE_RATE_LIMIT = env_str("GATEHOUSE_TOKEN_CREATE_RATE_LIMIT", "30/h")
# MCP: requests per token, tools/call per (token, tool) (off by default), and in-flight upstream calls per token.
GATEHOUSE_MCP_RATE_LIMIT = env_str("GATEHOUSE_MCP_RATE_LIMIT", "600/m")
GATEHOUSE_MCP_TOOL_RATE_LIMIT = env_str("GATEHOUSE_MCP_TOOL_RATE_LIMIT", "")
GATEHOUSE_MCP_MAX_CONCURRENT = env_int("GATEHOUSE_MCP_MAX_CONCURRENT", 32, minimum=0)
for _name in ("GATEHOUSE_LOGIN_RATE_LIMIT_IP", "GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT", "GATEHOUSE_API_RATE_LIMIT_USER",
              "GATEHOUSE_API_RATE_LIMIT_IP", "GATEHOUSE_TOKEN_CREATE_RATE_LIMIT", "GATEHOUSE_MCP_RATE_LIMIT",
              "GATEHOUSE_MCP_TOOL_RATE_LIMIT"):
    if globals()[_name] and not re.fullmatch(r"[1-9]\d*/[smhd]", globals()[_name]):
        raise ImproperlyConfigured(f"{_name} must look like '600/m' (count/s|m|h|d), not {globals()[_name]!r}.")
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "config.throttles.ApiIpThrottle",
    "config.throttles.ApiUserThrottle",
    "config.throttles.TokenCreateThrottle",
]
# Where manage.py support_bundle looks for recent *.log files.
GATEHOUSE_LOG_DIR = env_str("GATEHOUSE_LOG_DIR", str(VAR_DIR / "log"))
# Caps on client JSON (config.jsonlimits): nesting depth and number of values in one document.
GATEHOUSE_MAX_JSON_DEPTH = env_int("GATEHOUSE_MAX_JSON_DEPTH", 64, minimum=4)
GATEHOUSE_MAX_JSON_MEMBERS = env_int("GATEHOUSE_MAX_JSON_MEMBERS", 100_000, minimum=100)
# --- Teams, RBAC, scoped tokens, JWT (teams/, tokens/) -------------------------------------------------------------
AUTO_CREATE_PERSONAL_TEAMS = env_bool("AUTO_CREATE_PERSONAL_TEAMS", True)
MAX_TEAMS_PER_USER = env_int("MAX_TEAMS_PER_USER", 10, minimum=1)  # teams a user belongs to, besides the personal one
MAX_MEMBERS_PER_TEAM = env_int("MAX_MEMBERS_PER_TEAM", 100, minimum=1)
INVITATION_EXPIRY_HOURS = env_int("INVITATION_EXPIRY_HOURS", 7 * 24, minimum=1)
TOKEN_MAX_LIFETIME_DAYS = env_int("TOKEN_MAX_LIFETIME_DAYS", 365, minimum=1)
# Token usage rows from the data plane are buffered and written in batches of at most this many.
TOKEN_USAGE_BUFFER_SIZE = env_int("TOKEN_USAGE_BUFFER_SIZE", 500, minimum=1)
JWT_ALGORITHM = env_str("JWT_ALGORITHM", "HS256")
JWT_SECRET_KEY = env_secret("JWT_SECRET_KEY") or ""  # HS*: empty means "derive from SECRET_KEY"
JWT_PRIVATE_KEY_PATH = env_str("JWT_PRIVATE_KEY_PATH", "")  # RS*/ES*: PEM, needed to mint
JWT_PUBLIC_KEY_PATH = env_str("JWT_PUBLIC_KEY_PATH", "")  # RS*/ES*: PEM, needed to verify
JWT_AUDIENCE = env_str("JWT_AUDIENCE", "gatehouse")
JWT_ISSUER = env_str("JWT_ISSUER", "gatehouse")
JWT_ENVIRONMENT = env_str("JWT_ENVIRONMENT", "")  # when set, minted into "env" and required to match
JWT_LIFETIME_MINUTES = env_int("JWT_LIFETIME_MINUTES", 60, minimum=1)
REQUIRE_TOKEN_EXPIRATION = env_bool("REQUIRE_TOKEN_EXPIRATION", True)
REQUIRE_JTI = env_bool("REQUIRE_JTI", True)
# An external OAuth authorization server whose JWT access tokens Gatehouse accepts (tokens.oauth_issuer). Off unless
# OAUTH_ISSUER is set. Keys come from OAUTH_JWKS_URL, or from the issuer's metadata (RFC 8414 / OpenID discovery).
OAUTH_ISSUER = env_str("OAUTH_ISSUER", "")  # compared exactly with the "iss" claim
OAUTH_JWKS_URL = env_str("OAUTH_JWKS_URL", "")
# Accepted "aud" values; by default Gatehouse's own resource URL (GATEHOUSE_PUBLIC_URL).
OAUTH_AUDIENCE = env_list("OAUTH_AUDIENCE")
OAUTH_ALGORITHMS = env_list("OAUTH_ALGORITHMS", ["RS256", "ES256"])  # asymmetric only (tokens.E003)
OAUTH_USER_CLAIM = env_str("OAUTH_USER_CLAIM", "email")  # matched to a Gatehouse user's email
OAUTH_JWKS_CACHE_SECONDS = env_int("OAUTH_JWKS_CACHE_SECONDS", 3600, minimum=1)
# A token naming an unknown key ("kid") refetches the key set, at most once per this many seconds.
OAUTH_JWKS_REFRESH_SECONDS = env_int("OAUTH_JWKS_REFRESH_SECONDS", 60, minimum=0)
OAUTH_LEEWAY_SECONDS = env_int("OAUTH_LEEWAY_SECONDS", 30, minimum=0)  # clock skew allowed on exp and nbf
# An authenticating reverse proxy may name the user in PROXY_USER_HEADER; believed only from these addresses.
TRUST_PROXY_AUTH = env_bool("TRUST_PROXY_AUTH", False)
PROXY_USER_HEADER = env_str("PROXY_USER_HEADER", "X-Authenticated-User")
TRUSTED_PROXY_ADDRESSES = env_list("TRUSTED_PROXY_ADDRESSES", [])
# --- end teams/tokens ----------------------------------------------------------------------------------------------
# (teams/tokens, continued) token usage rows for the REST API; the trusted-proxy authenticator.
MIDDLEWARE = [*MIDDLEWARE, "tokens.middleware.TokenUsageMiddleware"]
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "tokens.authentication.BearerTokenAuthentication",
    "tokens.authentication.TrustedProxyAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
# ---- Operations (ops): audit archive, retention, upstream health, federation, metrics -------------------------------
AUDIT_ARCHIVE_DIR = Path(env_str("AUDIT_ARCHIVE_DIR", str(VAR_DIR / "audit-archive")))
# Days kept before purging (usage logs, health history) or archiving-then-removing (audit). 0 keeps for ever.
RETENTION_AUDIT_DAYS = env_int("RETENTION_AUDIT_DAYS", 365, minimum=0)
RETENTION_HEALTH_DAYS = env_int("RETENTION_HEALTH_DAYS", 14, minimum=0)
RETENTION_USAGE_DAYS = env_int("RETENTION_USAGE_DAYS", 90, minimum=0)
# Traffic capture (audit.capture): days captured MCP messages are kept, the largest payload stored (bytes, after
# redaction; longer ones are cut) and the writer's queue (a full queue drops captures, counted, never slows calls).
CAPTURE_RETENTION_DAYS = env_int("CAPTURE_RETENTION_DAYS", 7, minimum=0)
CAPTURE_MAX_PAYLOAD_BYTES = env_int("CAPTURE_MAX_PAYLOAD_BYTES", 65536, minimum=256)
CAPTURE_QUEUE_SIZE = env_int("CAPTURE_QUEUE_SIZE", 10000, minimum=1)
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
# A request that already passed this many gateways (its Via chain) is refused with 508, loop or not.
GATEHOUSE_VIA_MAX_HOPS = env_int("GATEHOUSE_VIA_MAX_HOPS", 8, minimum=1)
# OpenTelemetry tracing (config.tracing): on when an OTLP/HTTP endpoint is given; the exporter, resource and batch
# processor read the other standard OTEL_* variables themselves. OTEL_SDK_DISABLED=true turns it off regardless.
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "")
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
OTEL_TRACING_ENABLED = bool(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and not env_bool(
    "OTEL_SDK_DISABLED", False
)
# /metrics: a bearer token (or a platform admin's session); without either it answers 404.
METRICS_TOKEN = env_secret("METRICS_TOKEN", "") or ""
# Several worker processes: set PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself, before any metric exists)
# to an empty directory shared by the processes, and /metrics sums them (config/metrics.py).
