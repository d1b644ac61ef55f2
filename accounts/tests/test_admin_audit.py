"""Every change made through the admin is audited with its actor, IP and a diff with secrets masked."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.models import SsoGroupRule, User
from audit.models import AuditEvent
from teams.models import Team

pytestmark = pytest.mark.django_db

ADMIN_IP = {"REMOTE_ADDR": "198.51.100.9"}


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _events(action: str, target) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, target_type=target._meta.label_lower,
                                          target_id=str(target.pk)))


@pytest.fixture
def team():
    return Team.objects.create(name="Platform", slug="platform")


def _rule_form(team, value: str) -> dict:
    return {"provider": "keycloak", "claim": "groups", "value": value, "team": team.pk, "role": "developer"}


def test_change_is_recorded_with_actor_ip_and_diff(staff_client, admin_user, team):
    rule = SsoGroupRule.objects.create(provider="keycloak", value="devs", team=team, role="developer")
    response = staff_client.post(reverse("admin:accounts_ssogrouprule_change", args=[rule.pk]),
                                 _rule_form(team, "developers"), **ADMIN_IP)
    assert response.status_code == 302, response.content.decode()[:1500]
    (event,) = _events("admin.change", rule)
    assert (event.actor_id, event.via, event.data["ip"]) == (admin_user.pk, "admin", "198.51.100.9")
    assert event.data["changes"] == {"value": {"before": "devs", "after": "developers"}}


def test_addition_is_recorded_with_the_new_values(staff_client, team):
    staff_client.post(reverse("admin:accounts_ssogrouprule_add"), _rule_form(team, "fresh"), **ADMIN_IP)
    rule = SsoGroupRule.objects.get(value="fresh")
    (event,) = _events("admin.add", rule)
    assert event.data["changes"]["value"] == {"after": "fresh"}
    assert event.data["changes"]["team_id"] == {"after": team.pk}


def test_deletion_is_recorded(staff_client, team):
    rule = SsoGroupRule.objects.create(provider="keycloak", value="doomed", team=team, role="viewer")
    staff_client.post(reverse("admin:accounts_ssogrouprule_delete", args=[rule.pk]), {"post": "yes"}, **ADMIN_IP)
    assert not SsoGroupRule.objects.filter(pk=rule.pk).exists()
    event = AuditEvent.objects.get(action="admin.delete", target_type="accounts.ssogrouprule")
    assert event.data["changes"]["deleted"]["value"] == "doomed"


def test_password_set_in_the_admin_is_masked(staff_client):
    person = User.objects.create_user("person@example.com", "Old-Sturdy-Lantern-1")
    old_hash = person.password
    response = staff_client.post(reverse("admin:auth_user_password_change", args=[person.pk]), {
        "password1": "New-Sturdy-Lantern-2", "password2": "New-Sturdy-Lantern-2", "usable_password": "true",
    }, **ADMIN_IP)
    assert response.status_code == 302, response.content.decode()[:1500]
    (event,) = _events("admin.change", person)
    person.refresh_from_db()
    stored = json.dumps(event.data)
    assert "password" in event.data["changes"]
    assert old_hash not in stored and person.password not in stored and "New-Sturdy-Lantern-2" not in stored


def test_social_app_secret_is_masked(staff_client):
    from allauth.socialaccount.models import SocialApp

    response = staff_client.post(reverse("admin:socialaccount_socialapp_add"), {
        "provider": "openid_connect", "provider_id": "kc", "name": "Keycloak", "client_id": "gatehouse",
        "secret": "very-secret-client-secret", "key": "", "settings": '{"server_url": "https://kc.example"}',
    }, **ADMIN_IP)
    assert response.status_code == 302, response.content.decode()[:3000]
    app = SocialApp.objects.get(provider_id="kc")
    (event,) = _events("admin.add", app)
    assert "very-secret-client-secret" not in json.dumps(event.data)
    assert event.data["changes"]["client_id"] == {"after": "gatehouse"}


def test_many_to_many_changes_are_recorded(staff_client, admin_user):
    from django.contrib.auth.models import Group

    person = User.objects.create_user("person@example.com", "Old-Sturdy-Lantern-1")
    operators = Group.objects.create(name="operators")
    staff_client.post(reverse("admin:accounts_user_change", args=[person.pk]), {
        "email": person.email, "full_name": "", "is_active": "on", "groups": [operators.pk],
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }, **ADMIN_IP)
    changes = [event.data["changes"] for event in _events("admin.change", person)]
    assert {"groups": {"added": [operators.pk]}} in changes


def test_changes_outside_the_admin_are_not_recorded_as_admin_changes(admin_user):
    Team.objects.create(name="Service-made", slug="service-made")
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()
