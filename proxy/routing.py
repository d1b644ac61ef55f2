from __future__ import annotations

from django.urls import path, re_path

from proxy.transports.streamable_http import StreamableHttpConsumer

http_urlpatterns = [
    path("mcp", StreamableHttpConsumer.as_asgi()),
    path("mcp/", StreamableHttpConsumer.as_asgi()),
    re_path(r"^servers/(?P<slug>[a-z0-9_-]{1,64})/mcp/?$", StreamableHttpConsumer.as_asgi()),
]
