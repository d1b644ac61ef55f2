"""Per-process memo of catalog snapshots, keyed by principal, server and catalog version."""
from __future__ import annotations

from channels.db import database_sync_to_async

from catalog.selectors import snapshot_build
from catalog.snapshot import CatalogSnapshot
from config.memo import BoundedMemo
from teams.principal import Principal

_MISSING = object()
_snapshots: BoundedMemo[tuple, object] = BoundedMemo(10_000)


async def snapshot_for(principal: Principal, server_slug: str, version: int) -> CatalogSnapshot | None:
    """What ``principal`` may use on ``server_slug``; None when the server is unknown to them."""
    key = (principal.cache_key, principal.server_ids, server_slug, version)
    snapshot = _snapshots.get(key)
    if snapshot is None:
        built = await database_sync_to_async(snapshot_build)(principal=principal, server_slug=server_slug)
        snapshot = _MISSING if built is None else built
        _snapshots.put(key, snapshot)
    return None if snapshot is _MISSING else snapshot
