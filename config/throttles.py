"""DRF throttles for the management API: per user, per client IP, and a tighter one on token creation.

Rates come from settings at request time, so they follow the environment (and tests) without reloading DRF.
Over a limit DRF answers 429 with ``Retry-After``.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.setting) or None

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class ApiUserThrottle(_SettingsRateThrottle):
    """Per authenticated user (every token and session of the user share it)."""

    scope = "api-user"
    setting = "GATEHOUSE_API_RATE_LIMIT_USER"

    def get_cache_key(self, request, view) -> str | None:
        if request.user is None or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class ApiIpThrottle(_SettingsRateThrottle):
    """Per client IP, whoever the caller is: many accounts behind one address share it. (DRF checks throttles after
    authentication, so requests with no or a bad credential are refused with 401 before they count.)"""

    scope = "api-ip"
    setting = "GATEHOUSE_API_RATE_LIMIT_IP"

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenCreateThrottle(_SettingsRateThrottle):
    """Creating API tokens, per user: a stolen session must not mint tokens by the thousand."""

    scope = "token-create"
    setting = "GATEHOUSE_TOKEN_CREATE_RATE_LIMIT"

    def get_cache_key(self, request, view) -> str | None:
        if getattr(view, "basename", None) != "token" or getattr(view, "action", None) != "create":
            return None
        ident = request.user.pk if request.user is not None and request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
