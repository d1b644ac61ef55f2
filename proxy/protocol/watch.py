"""What an open stream tells its client without being asked: that a list it can see has changed (a catalog edit,
an upstream's change, a permission change), found by comparing the principal's snapshots."""
from __future__ import annotations

from typing import Any

from catalog.snapshot import CatalogSnapshot

_LISTINGS = (
    ("tool_listing", "notifications/tools/list_changed"),
    ("prompt_listing", "notifications/prompts/list_changed"),
    ("resource_listing", "notifications/resources/list_changed"),
    ("template_listing", "notifications/resources/list_changed"),
)


class CatalogWatch:
    def __init__(self, snapshot: CatalogSnapshot) -> None:
        self._seen = snapshot

    def changes(self, snapshot: CatalogSnapshot) -> list[dict[str, Any]]:
        """The list_changed notifications between the last snapshot seen and this one (each method once)."""
        if snapshot is self._seen:
            return []
        methods = []
        for listing, method in _LISTINGS:
            if getattr(snapshot, listing) != getattr(self._seen, listing) and method not in methods:
                methods.append(method)
        self._seen = snapshot
        return [{"jsonrpc": "2.0", "method": method} for method in methods]
