"""ASGI entry point: MCP paths (HTTP and WebSocket) go straight to Channels consumers, everything else to Django."""
from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
django_application = get_asgi_application()

from config.checks import posture_enforce  # noqa: E402

posture_enforce()  # REQUIRE_STRONG_SECRETS: a weak posture refuses to serve

from config.tracing import tracing_setup  # noqa: E402

tracing_setup()  # OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.draining import DrainStreams  # noqa: E402
from config.request_id import RequestIdMiddleware  # noqa: E402
from proxy.lifespan import lifespan_app  # noqa: E402
from proxy.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402
from django.urls import re_path  # noqa: E402
from tokens.client import ClientMiddleware  # noqa: E402

application = RequestIdMiddleware(ProtocolTypeRouter(
    {
        # ClientMiddleware: the client's address and user agent, for token scopes and usage records.
        # DrainStreams: at shutdown, open GET event streams end with a reconnect hint instead of holding the drain.
        "http": DrainStreams(ClientMiddleware(URLRouter([*http_urlpatterns, re_path(r"", django_application)]))),
        "websocket": ClientMiddleware(URLRouter(websocket_urlpatterns)),
        "lifespan": lifespan_app,
    }
))
