"""/api/v1/ teams, memberships, invitations, roles, users and me: behaviour (access is in the authorization
matrix, tests/test_authorization_matrix.py)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from teams.models import Invitation, Membership, PlatformRole
from tests.factories import UserFactory
from tokens.services import token_create

pytestmark = pytest.mark.django_db

API = "/api/v1"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_invite_then_accept_by_a_new_user_then_reuse_is_refused(team, owner):
    response = client_for(owner).post(f"{API}/invitations/", {"team": team.pk, "email": "new@example.com",
                                                              "role": "viewer"}, format="json")
    assert response.status_code == 201, response.content
    raw = response.json()["token"]
    assert "token" not in client_for(owner).get(f"{API}/invitations/{response.json()['id']}/").json()
    newcomer = UserFactory(email="new@example.com")
    accepted = client_for(newcomer).post(f"{API}/invitations/accept/", {"token": raw}, format="json")
    assert accepted.status_code == 201 and accepted.json()["role"] == "viewer"
    again = client_for(newcomer).post(f"{API}/invitations/accept/", {"token": raw}, format="json")
    assert again.status_code == 400 and "already been used" in again.json()["detail"]


def test_revoked_invitation_cannot_be_accepted(team, owner):
    response = client_for(owner).post(f"{API}/invitations/", {"team": team.pk, "email": "new@example.com"},
                                      format="json")
    assert client_for(owner).delete(f"{API}/invitations/{response.json()['id']}/").status_code == 204
    assert Invitation.objects.get().revoked_at is not None
    refused = client_for(UserFactory(email="new@example.com")).post(
        f"{API}/invitations/accept/", {"token": response.json()["token"]}, format="json")
    assert refused.status_code == 400 and "expired" in refused.json()["detail"]


def test_bad_accept_input_is_400(outsider):
    for body in [{}, {"token": ""}, {"token": "x" * 500}, {"token": ["a"]}]:
        assert client_for(outsider).post(f"{API}/invitations/accept/", body, format="json").status_code == 400


def test_last_owner_cannot_leave_through_the_api(team, owner):
    response = client_for(owner).post(f"{API}/teams/{team.pk}/leave/")
    assert response.status_code == 400 and "last owner" in response.json()["detail"]


def test_team_admin_cannot_make_an_owner(team, owner, teammate):
    admin = UserFactory(email="ta@example.com")
    Membership.objects.create(user=admin, team=team, role="admin")
    membership = Membership.objects.get(team=team, user=teammate)
    response = client_for(admin).patch(f"{API}/memberships/{membership.pk}/", {"role": "owner"}, format="json")
    assert response.status_code == 400 and "Only an owner" in response.json()["detail"]


def test_custom_role_assigned_to_a_member_through_the_api(team, owner, teammate, admin_user):
    role = client_for(admin_user).post(f"{API}/roles/", {"name": "runner", "permissions": ["tools.read"]},
                                       format="json")
    assert role.status_code == 201, role.content
    membership = Membership.objects.get(team=team, user=teammate)
    response = client_for(owner).patch(f"{API}/memberships/{membership.pk}/", {"custom_role": "runner"},
                                       format="json")
    assert response.status_code == 200 and response.json()["custom_role"] == "runner"
    me = client_for(teammate).get(f"{API}/me/").json()
    assert next(t for t in me["teams"] if t["id"] == team.pk)["permissions"] == ["tools.read"]


def test_unknown_permission_in_a_role_is_400(admin_user):
    response = client_for(admin_user).post(f"{API}/roles/", {"name": "x", "permissions": ["tools.launch"]},
                                           format="json")
    assert response.status_code == 400


def test_me_describes_the_token(owner, team):
    _, raw = token_create(user=owner, name="x", teams=[team.pk], permissions=["tools.read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = client.get(f"{API}/me/").json()
    assert body["email"] == owner.email
    assert body["token"]["teams"] == [team.pk] and body["token"]["permissions"] == ["tools.read"]
    assert {t["slug"] for t in body["teams"]} >= {"platform"}


def test_platform_admin_sets_a_platform_role_and_deactivates_a_user(admin_user, outsider):
    client = client_for(admin_user)
    role_url = f"{API}/users/{outsider.pk}/platform-role/"
    assert client.post(role_url, {"role": "viewer"}, format="json").status_code == 200
    assert PlatformRole.objects.get(user=outsider).role == "viewer"
    assert client.post(f"{API}/users/{outsider.pk}/platform-role/", {"role": "emperor"},
                       format="json").status_code == 400
    assert client.patch(f"{API}/users/{outsider.pk}/", {"is_active": False}, format="json").status_code == 200
    outsider.refresh_from_db()
    assert not outsider.is_active


def test_deactivated_users_tokens_stop_working(admin_user, outsider):
    _, raw = token_create(user=outsider, name="x")
    client_for(admin_user).patch(f"{API}/users/{outsider.pk}/", {"is_active": False}, format="json")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"{API}/me/").status_code == 401


def test_team_create_respects_the_quota(team, owner, settings):
    settings.MAX_TEAMS_PER_USER = 1
    response = client_for(owner).post(f"{API}/teams/", {"name": "Second"}, format="json")
    assert response.status_code == 400 and "at most 1 teams" in response.json()["detail"]


def test_openapi_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in ["/api/v1/teams/", "/api/v1/memberships/", "/api/v1/invitations/accept/", "/api/v1/roles/",
                 "/api/v1/users/", "/api/v1/me/", "/api/v1/tokens/{id}/usage/"]:
        assert f"  {path}:" in schema


def test_team_role_decides_what_may_be_put_into_the_team(team, teammate):
    viewer = UserFactory(email="view-only@example.com")
    Membership.objects.create(user=viewer, team=team, role="viewer")
    body = {"slug": "team-server", "team": team.pk, "visibility": "team"}
    refused = client_for(viewer).post(f"{API}/servers/", body, format="json")
    assert refused.status_code == 400 and "Unknown team" in refused.content.decode()
    # A developer registers upstreams for the team but composing team servers is for its admins.
    upstream = {"name": "dev-upstream", "url": "http://127.0.0.1:9/mcp", "team": team.pk, "visibility": "team"}
    assert client_for(teammate).post(f"{API}/upstreams/", upstream, format="json").status_code == 201
    assert client_for(teammate).post(f"{API}/servers/", body, format="json").status_code == 400
