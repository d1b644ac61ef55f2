"""What a virtual server exposes: tools, prompts and resources, each under a name that must be unique on the server."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models

from catalog.errors import CatalogError
from catalog.models import Prompt, Resource, ServerPrompt, ServerResource, ServerTool, Tool, VirtualServer
from catalog.naming import MAX_EXPOSED_NAME, is_valid_tool_name


@dataclass(frozen=True)
class EntryKind:
    noun: str
    model: type[models.Model]
    through: type[models.Model]
    # How an entry is addressed on the server: its alias or catalog name for tools and prompts, its URI for resources.
    key: Callable[[models.Model, str], str]
    alias_is_a_name: bool


TOOLS = EntryKind("tool", Tool, ServerTool, lambda tool, alias: alias or tool.exposed_name, True)
PROMPTS = EntryKind("prompt", Prompt, ServerPrompt, lambda prompt, alias: alias or prompt.exposed_name, True)
RESOURCES = EntryKind("resource", Resource, ServerResource, lambda resource, alias: resource.uri, False)
KINDS = (TOOLS, PROMPTS, RESOURCES)

Entries = list[tuple[models.Model, str]]


def _describe(entry) -> str:
    label = getattr(entry, "original_name", None) or entry.uri
    return f"'{label}' of upstream '{entry.upstream.name}'"


def composition_check(server: VirtualServer, kind: EntryKind, entries: Entries) -> None:
    """Refuse a composition in which two entries of one kind would answer to the same name on the server."""
    taken: dict[str, models.Model] = {}
    for entry, alias in entries:
        if alias and kind.alias_is_a_name and (not is_valid_tool_name(alias) or len(alias) > MAX_EXPOSED_NAME):
            raise CatalogError(f"The alias {alias!r} is not a valid {kind.noun} name of at most 64 characters.")
        if len(alias) > 255 or any(ord(ch) < 32 for ch in alias):
            raise CatalogError(f"The alias {alias!r} must be one line of at most 255 characters.")
        key = kind.key(entry, alias)
        other = taken.get(key)
        if other is not None and other.pk != entry.pk:
            raise CatalogError(
                f"On server '{server.slug}' the {kind.noun} {key!r} would be both {_describe(other)} "
                f"and {_describe(entry)}."
            )
        taken[key] = entry


def composition_set(server: VirtualServer, kind: EntryKind, entries: Entries) -> None:
    composition_check(server, kind, entries)
    kind.through.objects.filter(server=server).delete()
    kind.through.objects.bulk_create(
        kind.through(server=server, **{kind.noun: entry}, alias=alias) for entry, alias in entries
    )
