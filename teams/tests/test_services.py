"""Teams: personal teams, invitations (random, hashed, expiring, single use, email-bound), quotas, leaving,
removal and last-owner protection; every change is audited."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from audit.models import AuditEvent
from teams import services
from teams.models import Invitation, Membership, Team
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_user_gets_a_personal_team_they_own():
    user = UserFactory(email="new@example.com")
    team = Team.objects.get(personal_for=user)
    assert Membership.objects.get(team=team).user == user
    assert Membership.objects.get(team=team).role == Membership.Role.OWNER


@override_settings(AUTO_CREATE_PERSONAL_TEAMS=False)
def test_no_personal_team_when_switched_off():
    user = UserFactory(email="nopersonal@example.com")
    assert not Team.objects.filter(personal_for=user).exists()


def test_personal_team_cannot_be_left_joined_or_deleted(owner, outsider):
    personal = owner.personal_team
    with pytest.raises(services.TeamError):
        services.membership_remove(membership=Membership.objects.get(team=personal), actor=owner)
    with pytest.raises(services.TeamError):
        services.membership_add(team=personal, user=outsider, actor=owner)
    with pytest.raises(services.TeamError):
        services.team_delete(team=personal, actor=owner)


def test_team_create_makes_the_creator_owner_and_audits(owner):
    team = services.team_create(name="Data", creator=owner)
    assert Membership.objects.get(team=team, user=owner).role == Membership.Role.OWNER
    assert AuditEvent.objects.filter(action="team.create", target_id=str(team.pk)).exists()


@override_settings(MAX_TEAMS_PER_USER=2)
def test_max_teams_per_user(owner):
    services.team_create(name="One", creator=owner)
    services.team_create(name="Two", creator=owner)
    with pytest.raises(services.TeamError, match="at most 2 teams"):
        services.team_create(name="Three", creator=owner)


@override_settings(MAX_MEMBERS_PER_TEAM=2)
def test_max_members_per_team(team, teammate, outsider):
    with pytest.raises(services.TeamError, match="at most 2 members"):
        services.membership_add(team=team, user=outsider)
    with pytest.raises(services.TeamError, match="at most 2 members"):
        services.invitation_create(team=team, email=outsider.email, actor=team.memberships.get(role="owner").user)


def test_last_owner_cannot_leave_be_removed_or_demoted(team, owner, teammate):
    membership = Membership.objects.get(team=team, user=owner)
    with pytest.raises(services.TeamError, match="last owner"):
        services.membership_remove(membership=membership, actor=owner)
    with pytest.raises(services.TeamError, match="last owner"):
        services.membership_update(membership=membership, actor=owner, role=Membership.Role.ADMIN)
    services.membership_update(membership=Membership.objects.get(team=team, user=teammate), actor=owner,
                               role=Membership.Role.OWNER)
    services.membership_remove(membership=membership, actor=owner)
    assert not Membership.objects.filter(team=team, user=owner).exists()
    assert AuditEvent.objects.filter(action="team.leave").exists()


def test_invitation_token_is_random_urlsafe_and_stored_only_as_a_hash(team, owner):
    invitation, raw = services.invitation_create(team=team, email="Guest@Example.com", actor=owner)
    other, raw2 = services.invitation_create(team=team, email="guest2@example.com", actor=owner)
    assert raw != raw2 and len(raw) >= 40
    assert set(raw) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert raw not in str(list(Invitation.objects.values()))
    assert invitation.email == "guest@example.com"


def test_invitation_accepted_by_a_new_user_with_the_matching_email(team, owner):
    _, raw = services.invitation_create(team=team, email="guest@example.com", role="viewer", actor=owner)
    guest = UserFactory(email="guest@example.com")
    membership = services.invitation_accept(raw=raw, user=guest)
    assert (membership.team, membership.role) == (team, "viewer")


def test_invitation_is_single_use(team, owner):
    _, raw = services.invitation_create(team=team, email="guest@example.com", actor=owner)
    guest = UserFactory(email="guest@example.com")
    services.invitation_accept(raw=raw, user=guest)
    Membership.objects.filter(user=guest, team=team).delete()
    with pytest.raises(services.TeamError, match="already been used"):
        services.invitation_accept(raw=raw, user=guest)


def test_expired_invitation_is_refused(team, owner):
    invitation, raw = services.invitation_create(team=team, email="guest@example.com", actor=owner)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.TeamError, match="expired"):
        services.invitation_accept(raw=raw, user=UserFactory(email="guest@example.com"))


def test_invitation_for_another_email_or_a_made_up_token_is_refused(team, owner, outsider):
    _, raw = services.invitation_create(team=team, email="guest@example.com", actor=owner)
    with pytest.raises(services.TeamError, match="not valid for you"):
        services.invitation_accept(raw=raw, user=outsider)
    with pytest.raises(services.TeamError, match="not valid for you"):
        services.invitation_accept(raw=raw[:-1] + ("A" if raw[-1] != "A" else "B"), user=outsider)
    with pytest.raises(services.TeamError, match="not valid for you"):
        services.invitation_accept(raw="", user=outsider)


def test_only_an_owner_can_invite_an_owner(team, owner, teammate):
    services.membership_update(membership=Membership.objects.get(team=team, user=teammate), actor=owner,
                               role=Membership.Role.ADMIN)
    with pytest.raises(services.TeamError, match="Only an owner"):
        services.invitation_create(team=team, email="boss@example.com", role="owner", actor=teammate)


def test_custom_role_refuses_unknown_and_platform_permissions(admin_user):
    with pytest.raises(services.TeamError, match="Unknown permission"):
        services.role_save(actor=admin_user, name="x", permissions=["tools.launch"])
    with pytest.raises(services.TeamError, match="platform permissions"):
        services.role_save(actor=admin_user, name="x", permissions=["admin.user_management"])
    role = services.role_save(actor=admin_user, name="runner", permissions=["tools.execute", "tools.read"])
    assert role.permissions == ["tools.execute", "tools.read"]


def test_membership_changes_bump_the_catalog_version(team, outsider):
    from catalog.version import catalog_version_load

    before = catalog_version_load()
    services.membership_add(team=team, user=outsider)
    assert catalog_version_load() > before


def test_team_slug_collisions_get_a_suffix(owner):
    TeamFactory(slug="data")
    assert services.team_create(name="Data", creator=owner).slug.startswith("data-")
