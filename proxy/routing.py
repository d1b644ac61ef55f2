from __future__ import annotations

from django.urls import path, re_path

from proxy.transports.legacy_sse import LegacySseMessageConsumer, LegacySseStreamConsumer
from proxy.transports.streamable_http import StreamableHttpConsumer
from proxy.transports.websocket import McpWebsocketConsumer, UnknownWebsocketPath

SERVER = r"^servers/(?P<slug>[a-z0-9_-]{1,64})"

http_urlpatterns = [
    path("mcp", StreamableHttpConsumer.as_asgi()),
    path("mcp/", StreamableHttpConsumer.as_asgi()),
    re_path(SERVER + r"/mcp/?$", StreamableHttpConsumer.as_asgi()),
    re_path(r"^sse/?$", LegacySseStreamConsumer.as_asgi()),
    re_path(SERVER + r"/sse/?$", LegacySseStreamConsumer.as_asgi()),
    re_path(r"^messages/?$", LegacySseMessageConsumer.as_asgi()),
    re_path(SERVER + r"/messages/?$", LegacySseMessageConsumer.as_asgi()),
]

websocket_urlpatterns = [
    re_path(r"^ws/?$", McpWebsocketConsumer.as_asgi()),
    re_path(SERVER + r"/ws/?$", McpWebsocketConsumer.as_asgi()),
    re_path(r"", UnknownWebsocketPath.as_asgi()),
]
