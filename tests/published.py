"""Setting up what end-to-end tests talk to: an upstream registered and discovered, a virtual server over it, a token."""
from __future__ import annotations

from dataclasses import dataclass

from catalog import services as catalog_services
from catalog.models import Prompt, Resource, Tool, Upstream, VirtualServer
from tests.factories import UserFactory
from tokens import services as token_services


@dataclass(frozen=True)
class Published:
    owner: object
    upstream: Upstream
    server: VirtualServer
    token: str


def upstream_registered(owner, url: str, name: str = "fixture", **options) -> Upstream:
    upstream = catalog_services.upstream_create(owner=owner, name=name, url=url, **options)
    report = catalog_services.upstream_discover(upstream=upstream)
    assert report.ok, report.error
    return upstream


def upstream_published(
    *, email: str, url: str, server_slug: str, name: str = "fixture", everything: bool = False, **options
) -> Published:
    """A new owner's upstream behind a virtual server over all its tools (and prompts and resources with
    ``everything``), and a token of that owner. Synchronous: wrap it in sync_to_async from async tests."""
    owner = UserFactory(email=email)
    upstream = upstream_registered(owner, url, name=name, **options)
    present = {"upstream": upstream, "missing_since__isnull": True}
    composition = {"tools": [(tool, "") for tool in Tool.objects.filter(**present)]}
    if everything:
        composition["prompts"] = [(prompt, "") for prompt in Prompt.objects.filter(**present)]
        composition["resources"] = [(resource, "") for resource in Resource.objects.filter(**present)]
    server = catalog_services.server_create(owner=owner, slug=server_slug, **composition)
    _, token = token_services.token_create(user=owner, name=server_slug)
    return Published(owner, upstream, server, token)
