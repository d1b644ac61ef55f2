from __future__ import annotations

import factory

from accounts.models import User
from catalog.models import Upstream, VirtualServer
from teams.models import Membership, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["email"]

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct-horse-battery-staple")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Membership.Role.DEVELOPER


class UpstreamFactory(factory.django.DjangoModelFactory):
    """A row only: no discovery. Use catalog.services for a discovered upstream."""

    class Meta:
        model = Upstream

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"upstream {n}")
    slug = factory.Sequence(lambda n: f"up{n}")
    url = "http://127.0.0.1:9/mcp"


class VirtualServerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VirtualServer

    owner = factory.SubFactory(UserFactory)
    slug = factory.Sequence(lambda n: f"server-{n}")
    name = factory.LazyAttribute(lambda server: server.slug)


class ToolFactory(factory.django.DjangoModelFactory):
    """A catalog row only (as if discovered); owner, team and visibility follow its upstream unless given."""

    class Meta:
        model = "catalog.Tool"

    upstream = factory.SubFactory(UpstreamFactory)
    owner = factory.SelfAttribute("upstream.owner")
    team = factory.SelfAttribute("upstream.team")
    visibility = factory.SelfAttribute("upstream.visibility")
    original_name = factory.Sequence(lambda n: f"tool{n}")
    exposed_name = factory.LazyAttribute(lambda tool: f"{tool.upstream.slug}__{tool.original_name}")
    input_schema = '{"type":"object"}'


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.Prompt"

    upstream = factory.SubFactory(UpstreamFactory)
    owner = factory.SelfAttribute("upstream.owner")
    team = factory.SelfAttribute("upstream.team")
    visibility = factory.SelfAttribute("upstream.visibility")
    original_name = factory.Sequence(lambda n: f"prompt{n}")
    exposed_name = factory.LazyAttribute(lambda prompt: f"{prompt.upstream.slug}__{prompt.original_name}")


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.Resource"

    upstream = factory.SubFactory(UpstreamFactory)
    owner = factory.SelfAttribute("upstream.owner")
    team = factory.SelfAttribute("upstream.team")
    visibility = factory.SelfAttribute("upstream.visibility")
    uri = factory.Sequence(lambda n: f"fixture://resource/{n}")
    name = factory.Sequence(lambda n: f"resource{n}")
