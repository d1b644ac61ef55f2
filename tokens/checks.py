"""Start-up checks for credentials. Stable ids: tokens.E001 (JWT configuration), tokens.E002 (trusted proxies),
tokens.E003 (external OAuth issuer).

Without JWT_SECRET_KEY, HS JWTs use a key derived from SECRET_KEY (a separate key, as strong as SECRET_KEY, which
production already requires to be strong), so that is not reported."""
from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.checks import Error, register


@register("security")
def jwt_configuration(app_configs, **kwargs):
    from tokens.jwt import configuration_errors

    return [Error(message, hint="Fix JWT_ALGORITHM and its keys.", id="tokens.E001")
            for message in configuration_errors()]


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


@register("security")
def oauth_issuer_configuration(app_configs, **kwargs):
    from tokens.oauth_issuer import configuration_errors

    return [Error(message, hint="Fix the OAUTH_* settings.", id="tokens.E003") for message in configuration_errors()]
