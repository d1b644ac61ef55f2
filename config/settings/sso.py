"""SSO providers from the environment, as allauth's SOCIALACCOUNT_PROVIDERS.

Each built-in provider is on when its client id is set:
  SSO_GITHUB_CLIENT_ID / SSO_GITHUB_CLIENT_SECRET
  SSO_GOOGLE_CLIENT_ID / SSO_GOOGLE_CLIENT_SECRET
  SSO_MICROSOFT_CLIENT_ID / SSO_MICROSOFT_CLIENT_SECRET / SSO_MICROSOFT_TENANT (default "organizations")
  SSO_OKTA_CLIENT_ID / SSO_OKTA_CLIENT_SECRET / SSO_OKTA_BASE_URL (e.g. "example.okta.com")
Keycloak and any other OpenID Connect provider go in SSO_OIDC_PROVIDERS, a JSON list (or SSO_OIDC_PROVIDERS_FILE):
  [{"id": "keycloak", "name": "Keycloak", "server_url": "https://kc.example.com/realms/acme",
    "client_id": "gatehouse", "secret": "..."}]
optional per entry: "scope" (list, default openid/profile/email), "pkce" (bool, default true).
Secrets may come from NAME_FILE. Providers can also be configured in the admin (Social applications); never
configure one provider both ways.
"""
from __future__ import annotations

import json
import re

from django.core.exceptions import ImproperlyConfigured

from config.env import env_secret, env_str

_OIDC_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_BUILT_IN = ("github", "google", "microsoft", "okta")


def _app(provider: str) -> dict | None:
    prefix = f"SSO_{provider.upper()}"
    client_id = env_str(f"{prefix}_CLIENT_ID", "")
    if not client_id:
        return None
    secret = env_secret(f"{prefix}_CLIENT_SECRET")
    if not secret:
        raise ImproperlyConfigured(f"{prefix}_CLIENT_ID is set: set {prefix}_CLIENT_SECRET (or _FILE) too.")
    app: dict = {"client_id": client_id, "secret": secret, "settings": {}}
    if provider == "microsoft":
        app["settings"]["tenant"] = env_str("SSO_MICROSOFT_TENANT", "organizations")
    if provider == "okta":
        base_url = env_str("SSO_OKTA_BASE_URL", "")
        if not base_url:
            raise ImproperlyConfigured("SSO_OKTA_CLIENT_ID is set: set SSO_OKTA_BASE_URL (e.g. example.okta.com).")
        app["settings"]["OKTA_BASE_URL"] = base_url
    return app


def oidc_apps(raw: str | None) -> list[dict]:
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"SSO_OIDC_PROVIDERS is not valid JSON: {exc.msg}") from None
    if not isinstance(entries, list):
        raise ImproperlyConfigured("SSO_OIDC_PROVIDERS must be a JSON list of providers.")
    apps, seen = [], set()
    for position, entry in enumerate(entries):
        where = f"SSO_OIDC_PROVIDERS[{position}]"
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{where} must be an object.")
        missing = [key for key in ("id", "server_url", "client_id", "secret") if not entry.get(key)]
        if missing:
            raise ImproperlyConfigured(f"{where} lacks {', '.join(missing)}.")
        provider_id = entry["id"]
        if not _OIDC_ID.fullmatch(provider_id) or provider_id in _BUILT_IN or provider_id in seen:
            raise ImproperlyConfigured(
                f"{where}: id {provider_id!r} must be unique, lowercase letters, digits, - or _, and not a built-in "
                "provider's name."
            )
        seen.add(provider_id)
        apps.append({
            "provider_id": provider_id,
            "name": entry.get("name") or provider_id,
            "client_id": entry["client_id"],
            "secret": entry["secret"],
            "settings": {
                "server_url": entry["server_url"],
                "oauth_pkce_enabled": bool(entry.get("pkce", True)),
                "scope": list(entry.get("scope") or ["openid", "profile", "email"]),
            },
        })
    return apps


def socialaccount_providers() -> dict:
    providers: dict = {}
    for provider in _BUILT_IN:
        app = _app(provider)
        if app is not None:
            providers[provider] = {"APPS": [app]}
    apps = oidc_apps(env_secret("SSO_OIDC_PROVIDERS"))
    if apps:
        providers["openid_connect"] = {"APPS": apps}
    return providers
