"""Composing virtual servers from catalog entries."""
from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from audit.services import audit_record
from catalog.composition import PROMPTS, RESOURCES, TOOLS, Entries, EntryKind, composition_set
from catalog.errors import CatalogError
from catalog.models import VirtualServer, Visibility
from catalog.services.rules import sharing_check, text_clean
from catalog.version import catalog_version_bump


def _compose(server: VirtualServer, composition: dict[EntryKind, Entries | None]) -> None:
    for kind, entries in composition.items():
        if entries is not None:
            composition_set(server, kind, entries)


@transaction.atomic
def server_create(
    *,
    owner,
    slug: str,
    name: str = "",
    description: str = "",
    tools: Entries | None = None,
    prompts: Entries | None = None,
    resources: Entries | None = None,
    team=None,
    visibility: str = Visibility.PRIVATE,
    enabled: bool = True,
    allow_anonymous: bool = False,
    capture_traffic: bool = False,
    actor=None,
) -> VirtualServer:
    if not slug or slugify(slug) != slug or len(slug) > 64:
        raise CatalogError(f"A server slug is 1 to 64 lowercase letters, digits and hyphens, not {slug!r}.")
    name = text_clean(name, "A server's name", 100)
    description = text_clean(description, "A server's description", 2000, multiline=True)
    sharing_check(visibility, team)
    if VirtualServer.objects.filter(slug=slug).exists():
        raise CatalogError(f"A virtual server with slug {slug!r} already exists.")
    server = VirtualServer.objects.create(
        owner=owner,
        slug=slug,
        name=name or slug,
        description=description,
        team=team,
        visibility=visibility,
        enabled=enabled,
        allow_anonymous=allow_anonymous,
        capture_traffic=capture_traffic,
    )
    _compose(server, {TOOLS: tools or [], PROMPTS: prompts or [], RESOURCES: resources or []})
    audit_record(
        "server.create",
        actor=actor or owner,
        target=server,
        data={
            "tools": [TOOLS.key(tool, alias) for tool, alias in tools or []],
            "prompts": [PROMPTS.key(prompt, alias) for prompt, alias in prompts or []],
            "resources": [RESOURCES.key(resource, alias) for resource, alias in resources or []],
            "visibility": visibility,
            "allow_anonymous": allow_anonymous,
            "capture_traffic": capture_traffic,
        },
    )
    catalog_version_bump()
    return server


@transaction.atomic
def server_update(
    *,
    server: VirtualServer,
    actor,
    tools: Entries | None = None,
    prompts: Entries | None = None,
    resources: Entries | None = None,
    **changes,
) -> VirtualServer:
    allowed = {"name", "description", "enabled", "visibility", "team", "allow_anonymous", "capture_traffic"}
    unknown = set(changes) - allowed
    if unknown:
        raise CatalogError(f"Cannot change {', '.join(sorted(unknown))} on a virtual server.")
    if "name" in changes:
        changes["name"] = text_clean(changes["name"], "A server's name", 100, required=True)
    if "description" in changes:
        changes["description"] = text_clean(changes["description"], "A server's description", 2000, multiline=True)
    for field, value in changes.items():
        setattr(server, field, value)
    sharing_check(server.visibility, server.team)
    server.save()
    composition = {TOOLS: tools, PROMPTS: prompts, RESOURCES: resources}
    _compose(server, composition)
    recomposed = sorted(kind.noun for kind, entries in composition.items() if entries is not None)
    audit_record(
        "server.update", actor=actor, target=server, data={"fields": sorted(changes), "recomposed": recomposed}
    )
    catalog_version_bump()
    return server


@transaction.atomic
def server_composition_saved(*, server: VirtualServer, actor) -> None:
    """The admin edits a server's entries inline (checked by composition_check first); record and publish it."""
    audit_record("server.update", actor=actor, target=server, data={"recomposed": "admin"})
    catalog_version_bump()


@transaction.atomic
def server_delete(*, server: VirtualServer, actor) -> None:
    audit_record("server.delete", actor=actor, target=server)
    server.delete()
    catalog_version_bump()
