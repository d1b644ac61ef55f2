"""The one rule set: principal_may on one object and visible_to on a table always agree, for every actor, object,
action and kind of credential; unknown names raise (scope_filter) or deny (principal_may)."""
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from catalog.models import Tool, Upstream, VirtualServer
from teams import roles
from teams.models import Membership, PlatformRole, Role
from teams.permissions import CHANGE, USE, VIEW, principal_may, scope_filter
from teams.selectors import principal_for_user
from tests.factories import MembershipFactory, TeamFactory, ToolFactory, UpstreamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(team, owner):
    """Tools of every visibility, in the team, in another team, and owned outright by a team developer."""
    other_team = TeamFactory(slug="other")
    stranger = UserFactory(email="stranger@example.com")
    MembershipFactory(user=stranger, team=other_team, role=Membership.Role.OWNER)
    developer = UserFactory(email="dev@example.com")
    MembershipFactory(user=developer, team=team, role=Membership.Role.DEVELOPER)
    viewer = UserFactory(email="viewer@example.com")
    MembershipFactory(user=viewer, team=team, role=Membership.Role.VIEWER)
    tools = []
    for team_, visibility, by in itertools.product([team, other_team, None], ["private", "team", "public"],
                                                   [owner, stranger, developer]):
        if team_ is None and visibility == "team":
            continue
        upstream = UpstreamFactory(owner=by, team=team_, visibility=visibility)
        tools.append(ToolFactory(upstream=upstream))
    platform_viewer = UserFactory(email="pviewer@example.com")
    PlatformRole.objects.create(user=platform_viewer, role=PlatformRole.Name.VIEWER)
    return {"owner": owner, "developer": developer, "viewer": viewer, "stranger": stranger,
            "platform_viewer": platform_viewer, "team": team, "other_team": other_team, "tools": tools}


def _variants(principal):
    yield "session", principal
    yield "public-only token", replace(principal, token_id=1, team_scope=frozenset())
    yield "team token", replace(principal, token_id=1, team_scope=frozenset(principal.team_ids))
    yield "read-only token", replace(principal, token_id=1, permission_scope=frozenset({roles.TOOLS_READ}))


@pytest.mark.parametrize("who", ["owner", "developer", "viewer", "stranger", "platform_viewer"])
@pytest.mark.parametrize("action", [VIEW, USE, CHANGE])
def test_principal_may_and_visible_to_agree(world, who, action):
    base = principal_for_user(world[who])
    for label, principal in _variants(base):
        listed = set(Tool.objects.visible_to(principal, action).values_list("pk", flat=True))
        for tool in world["tools"]:
            assert principal_may(principal, action, tool) == (tool.pk in listed), (label, tool.upstream.visibility)


def test_team_viewer_sees_team_tools_but_may_not_execute_them(world):
    viewer = principal_for_user(world["viewer"])
    team_tool = next(t for t in world["tools"] if t.team_id == world["team"].pk and t.visibility == "team")
    assert principal_may(viewer, VIEW, team_tool)
    assert not principal_may(viewer, USE, team_tool)


def test_developer_may_not_change_a_teammates_tool_but_team_owner_may(world):
    tool = next(t for t in world["tools"] if t.team_id == world["team"].pk and t.owner == world["developer"])
    owner_tool = next(t for t in world["tools"] if t.team_id == world["team"].pk and t.owner == world["owner"])
    assert principal_may(principal_for_user(world["owner"]), CHANGE, tool)
    assert not principal_may(principal_for_user(world["developer"]), CHANGE, owner_tool)


def test_nobody_sees_another_teams_private_tool_except_platform_admin(world, admin_user):
    hidden = next(t for t in world["tools"] if t.team_id == world["other_team"].pk and t.visibility == "private"
                  and t.owner == world["stranger"])
    for who in ["owner", "developer", "viewer"]:
        assert not principal_may(principal_for_user(world[who]), VIEW, hidden)
    assert principal_may(principal_for_user(admin_user), CHANGE, hidden)


def test_platform_viewer_sees_everything_and_changes_nothing(world):
    viewer = principal_for_user(world["platform_viewer"])
    assert Tool.objects.visible_to(viewer, VIEW).count() == len(world["tools"])
    assert Tool.objects.visible_to(viewer, CHANGE).count() == 0
    assert principal_may(viewer, roles.ADMIN_SECURITY_AUDIT)
    assert not principal_may(viewer, roles.ADMIN_USER_MANAGEMENT)


def test_custom_role_replaces_the_builtin_role_permissions(world):
    membership = Membership.objects.get(user=world["viewer"], team=world["team"])
    membership.custom_role = Role.objects.create(name="runner", permissions=[roles.TOOLS_READ, roles.TOOLS_EXECUTE])
    membership.save()
    viewer = principal_for_user(world["viewer"])
    team_tool = next(t for t in world["tools"] if t.team_id == world["team"].pk and t.visibility == "team")
    assert principal_may(viewer, USE, team_tool)
    assert viewer.team_permissions[world["team"].pk] == {roles.TOOLS_READ, roles.TOOLS_EXECUTE}


def test_unknown_permission_raises_in_scope_filter_and_denies_in_principal_may(world, admin_user):
    admin = principal_for_user(admin_user)
    with pytest.raises(ValueError):
        scope_filter(admin, "tools.exec", model_label="catalog.tool")
    with pytest.raises(ValueError):
        Tool.objects.visible_to(admin, "launch")
    assert not principal_may(admin, "tools.exec", world["tools"][0])
    assert not principal_may(admin, "teams.destroy")
    with pytest.raises(roles.UnknownPermission):
        roles.permission_check("admin.everything")


def test_principal_may_denies_on_an_object_without_ownership(admin_user):
    assert not principal_may(principal_for_user(admin_user), VIEW, admin_user)


def test_anonymous_may_nothing_and_sees_nothing(world):
    assert not principal_may(None, VIEW, world["tools"][0])
    assert not Upstream.objects.visible_to(None).exists()
    assert not VirtualServer.objects.visible_to(None).exists()


def test_every_permission_is_documented_and_roles_use_only_known_names():
    assert all(description for description in roles.PERMISSIONS.values())
    for granted in [*roles.TEAM_ROLES.values(), *roles.PLATFORM_ROLES.values(), roles.USER_PERMISSIONS]:
        assert granted <= roles.ALL
    assert set(roles.TEAM_ROLES) == set(Membership.Role.values)


def test_platform_admin_read_only_token_changes_no_team(admin_user, team):
    from teams.models import Team

    principal = replace(principal_for_user(admin_user), token_id=1, permission_scope=frozenset({roles.TOOLS_READ}))
    assert not Team.objects.visible_to(principal, CHANGE).exists()
    assert Team.objects.visible_to(principal_for_user(admin_user), CHANGE).filter(pk=team.pk).exists()
