"""An upstream that says its lists changed is re-discovered at once (not at the next scheduled sync)."""
from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from mcp import types

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.upstream.callbacks import upstream_notifications
from tests.factories import UserFactory
from tests.processes import FixtureUpstream


def _present(upstream) -> set[str]:
    return set(Tool.objects.filter(upstream=upstream, missing_since__isnull=True).values_list("original_name", flat=True))


async def test_list_changed_from_an_upstream_rediscovers_it(transactional_db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    hidden = FixtureUpstream(hide=("echo",)).start()
    try:
        owner = await sync_to_async(UserFactory)(email="rediscovery@example.com")
        upstream = await sync_to_async(catalog_services.upstream_create)(owner=owner, name="changing", url=hidden.url)
        assert (await sync_to_async(catalog_services.upstream_discover)(upstream=upstream)).ok
        assert "echo" not in await sync_to_async(_present)(upstream)
        hidden.stop()
        shown = FixtureUpstream(port=hidden.port).start()  # the same upstream, now offering echo
        try:
            notify = upstream_notifications(upstream.pk)["message_handler"]
            await notify(types.ToolListChangedNotification())
            await notify(types.ToolListChangedNotification())  # a burst: now, and once more when the window ends
            for _ in range(50):
                if "echo" in await sync_to_async(_present)(upstream):
                    break
                await asyncio.sleep(0.1)
            assert "echo" in await sync_to_async(_present)(upstream)
        finally:
            shown.stop()
    finally:
        hidden.stop()
