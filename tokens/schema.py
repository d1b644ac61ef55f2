"""OpenAPI description of the bearer-token authenticator (drf-spectacular)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tokens.authentication.BearerTokenAuthentication"
    name = "gatehouseToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A Gatehouse API token: gth_…"}


class TrustedProxyScheme(OpenApiAuthenticationExtension):
    target_class = "tokens.authentication.TrustedProxyAuthentication"
    name = "trustedProxy"

    def get_security_definition(self, auto_schema):
        from django.conf import settings

        return {
            "type": "apiKey", "in": "header", "name": settings.PROXY_USER_HEADER,
            "description": "Set by an authenticating reverse proxy; honoured only from TRUSTED_PROXY_ADDRESSES.",
        }
