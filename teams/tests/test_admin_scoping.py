"""The admin answers with the same rules as the API and MCP: a team admin manages their own teams' catalog entries,
and another team's objects are missing."""
from __future__ import annotations

import pytest
from django.urls import reverse

from catalog import services as catalog_services
from catalog.models import Upstream, VirtualServer
from teams.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_teams():
    ours, theirs = TeamFactory(name="Ours", slug="ours"), TeamFactory(name="Theirs", slug="theirs")
    admin = UserFactory(email="team-admin@example.com", is_staff=True)
    MembershipFactory(user=admin, team=ours, role=Membership.Role.ADMIN)
    other = UserFactory(email="other-owner@example.com")
    MembershipFactory(user=other, team=theirs, role=Membership.Role.OWNER)
    mine = catalog_services.upstream_create(owner=admin, name="ours-api", url="http://127.0.0.1:9/mcp", team=ours,
                                            visibility="team")
    foreign = catalog_services.upstream_create(owner=other, name="theirs-api", url="http://127.0.0.1:9/mcp",
                                               team=theirs, visibility="team")
    catalog_services.server_create(owner=other, slug="their-server", team=theirs, visibility="team")
    return {"admin": admin, "mine": mine, "foreign": foreign}


def test_team_admin_lists_only_their_teams_upstreams(client, two_teams):
    client.force_login(two_teams["admin"])
    page = client.get(reverse("admin:catalog_upstream_changelist"))
    assert page.status_code == 200
    assert b"ours-api" in page.content and b"theirs-api" not in page.content


def test_another_teams_object_is_missing_like_one_that_does_not_exist(client, two_teams):
    client.force_login(two_teams["admin"])
    foreign = client.get(reverse("admin:catalog_upstream_change", args=[two_teams["foreign"].pk]))
    missing = client.get(reverse("admin:catalog_upstream_change", args=[999_999]))
    assert foreign.status_code == missing.status_code == 302
    assert client.get(reverse("admin:catalog_upstream_change", args=[two_teams["mine"].pk])).status_code == 200


def test_team_admin_cannot_change_another_teams_object_by_posting(client, two_teams):
    client.force_login(two_teams["admin"])
    url = reverse("admin:catalog_upstream_delete", args=[two_teams["foreign"].pk])
    client.post(url, {"post": "yes"})
    assert Upstream.objects.filter(pk=two_teams["foreign"].pk).exists()
    assert b"their-server" not in client.get(reverse("admin:catalog_virtualserver_changelist")).content


def test_a_viewer_of_a_team_sees_none_of_its_upstreams_to_change(client, two_teams):
    viewer = UserFactory(email="viewer@example.com", is_staff=True)
    MembershipFactory(user=viewer, team=two_teams["mine"].team, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("admin:catalog_upstream_changelist"))  # their personal team is theirs to manage
    assert b"ours-api" not in page.content and b"theirs-api" not in page.content
    assert VirtualServer.objects.count() == 1


def test_team_admin_manages_their_teams_members_and_not_anothers(client, two_teams):
    from teams.models import Team

    client.force_login(two_teams["admin"])
    ours, theirs = Team.objects.get(slug="ours"), Team.objects.get(slug="theirs")
    page = client.get(reverse("admin:teams_membership_changelist")).content.decode()
    assert "other-owner@example.com" not in page
    foreign = Membership.objects.get(team=theirs)
    assert client.get(reverse("admin:teams_membership_change", args=[foreign.pk])).status_code == 302
    mine = Membership.objects.get(team=ours, user=two_teams["admin"])
    assert client.get(reverse("admin:teams_membership_change", args=[mine.pk])).status_code == 200


def test_team_admin_sees_no_token_of_another_user(client, two_teams):
    from tokens.models import ApiToken
    from tokens.services import token_create

    token, _ = token_create(user=ApiToken._meta.get_field("user").related_model.objects.get(
        email="other-owner@example.com"), name="theirs")
    client.force_login(two_teams["admin"])
    assert client.get(reverse("admin:tokens_apitoken_change", args=[token.pk])).status_code == 302
    assert b"theirs" not in client.get(reverse("admin:tokens_apitoken_changelist")).content
