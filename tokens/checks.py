"""Start-up checks for credentials. Stable ids: tokens.E001 (JWT configuration), tokens.E002 (trusted proxies),
tokens.W001 (HS JWT secret derived from SECRET_KEY in production)."""
from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.checks import Error, Warning, register


@register("security")
def jwt_configuration(app_configs, **kwargs):
    from tokens.jwt import HMAC, configuration_errors

    problems = [Error(message, hint="Fix JWT_ALGORITHM and its keys.", id="tokens.E001")
                for message in configuration_errors()]
    if not problems and settings.JWT_ALGORITHM in HMAC and not settings.JWT_SECRET_KEY and not settings.DEBUG:
        problems.append(Warning(
            "JWT_SECRET_KEY is not set: HS JWTs are signed with a key derived from SECRET_KEY.",
            hint="Set JWT_SECRET_KEY (or JWT_SECRET_KEY_FILE) to 32+ random characters, or use RS/ES keys.",
            id="tokens.W001",
        ))
    return problems


@register("security")
def trusted_proxies(app_configs, **kwargs):
    problems = []
    for address in settings.TRUSTED_PROXY_ADDRESSES:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            problems.append(Error(f"TRUSTED_PROXY_ADDRESSES holds {address!r}, which is not an IP range.",
                                  id="tokens.E002"))
    if settings.TRUST_PROXY_AUTH and not settings.TRUSTED_PROXY_ADDRESSES:
        problems.append(Error("TRUST_PROXY_AUTH is on but TRUSTED_PROXY_ADDRESSES is empty.", id="tokens.E002"))
    return problems
