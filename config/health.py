"""/health says the process is alive; /ready says its database, cache and channel layer answer."""
from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def health(request):
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    key = f"gatehouse:ready:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


def _channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")

    async def round_trip() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "ready.check"})
        await layer.receive(channel)

    async_to_sync(round_trip)()


@never_cache
def ready(request):
    checks = {}
    for name, check in (("database", _database), ("cache", _cache), ("channel_layer", _channel_layer)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - report every failing dependency, never raise
            checks[name] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503)
