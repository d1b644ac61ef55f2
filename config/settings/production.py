"""Production: no secret has a default, and weak ones refuse to start."""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret, env_str
from config.settings.keyring import parse_key_ring

from .base import *  # noqa: F403


def _required_secret(name: str) -> str:
    value = env_secret(name)
    if not value:
        raise ImproperlyConfigured(f"Production settings need {name} (or {name}_FILE).")
    return value


SECRET_KEY = _required_secret("SECRET_KEY")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Production settings need ALLOWED_HOSTS (comma-separated host names).")

GATEHOUSE_ENCRYPTION_KEYS = parse_key_ring(
    "GATEHOUSE_ENCRYPTION_KEYS", _required_secret("GATEHOUSE_ENCRYPTION_KEYS"), key_bytes=32
)
GATEHOUSE_TOKEN_PEPPERS = parse_key_ring("GATEHOUSE_TOKEN_PEPPERS", _required_secret("GATEHOUSE_TOKEN_PEPPERS"))

DEBUG = False
GATEHOUSE_STDIO_UPSTREAMS = env_bool("GATEHOUSE_STDIO_UPSTREAMS", False)
WHITENOISE_USE_FINDERS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# ---- Hardening: cookies bound to this exact host over HTTPS; APP_DOMAIN trusted for CSRF -------------------------
ENVIRONMENT = "production"
SESSION_COOKIE_NAME = "__Host-gatehouse_session"
CSRF_COOKIE_NAME = "__Host-gatehouse_csrf"
CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, *([f"https://{APP_DOMAIN}"] if APP_DOMAIN else [])]  # noqa: F405

# --- Identity (accounts): MFA for staff, mail through SMTP -------------------------------------------------------
MFA_REQUIRED_FOR_STAFF = env_bool("MFA_REQUIRED_FOR_STAFF", True)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set at most one of EMAIL_USE_TLS and EMAIL_USE_SSL.")
