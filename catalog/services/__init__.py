"""Writes to the catalog. Every function validates, writes in one transaction, audits and bumps the catalog version.

Callers use this package's names (``from catalog import services``); its modules group the writes by what they change.
"""
from __future__ import annotations

from catalog.errors import CatalogError
from catalog.services.discovery import DiscoveryReport, rest_upstream_check, upstream_discover
from catalog.services.entries import catalog_entry_update, rest_tool_define
from catalog.services.key_rotation import ResealReport, upstream_secrets_reseal
from catalog.services.servers import server_composition_saved, server_create, server_delete, server_update
from catalog.services.upstreams import upstream_create, upstream_update

__all__ = [
    "CatalogError",
    "DiscoveryReport",
    "ResealReport",
    "catalog_entry_update",
    "rest_tool_define",
    "rest_upstream_check",
    "server_composition_saved",
    "server_create",
    "server_delete",
    "server_update",
    "upstream_create",
    "upstream_discover",
    "upstream_secrets_reseal",
    "upstream_update",
]
