"""Response headers every Django response carries, beyond what SecurityMiddleware sets."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

# Headers that advertise the software behind the response; they help an attacker pick exploits and nobody else.
_REVEALING = ("Server", "X-Powered-By")


class SecurityHeadersMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so it adds no thread hop under ASGI."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        for name in _REVEALING:
            if name in response.headers:
                del response.headers[name]
        return response
