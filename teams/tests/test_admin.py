"""Admin: custom roles are edited in the admin through the service (validated, audited); token scopes are
checked in the create form, so a refused scope is a form error, not a server error."""
from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from teams.models import Role
from tokens.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_creates_a_custom_role_through_the_service(admin_client):
    response = admin_client.post(reverse("admin:teams_role_add"), {
        "name": "runner", "description": "", "permissions": ["tools.read", "tools.execute"]})
    assert response.status_code == 302, response.content[:500]
    assert Role.objects.get(name="runner").permissions == ["tools.execute", "tools.read"]
    assert AuditEvent.objects.filter(action="role.save").exists()


def test_admin_role_form_offers_no_platform_permission(admin_client):
    response = admin_client.post(reverse("admin:teams_role_add"), {
        "name": "sneaky", "permissions": ["admin.user_management"]})
    assert response.status_code == 200 and b"not one of the available choices" in response.content
    assert not Role.objects.filter(name="sneaky").exists()


def test_admin_token_form_refuses_a_permission_the_user_lacks(admin_client, teammate):
    response = admin_client.post(reverse("admin:tokens_apitoken_add"), {
        "user": teammate.pk, "name": "x", "permissions": ["admin.security_audit"]})
    assert response.status_code == 200 and b"do not hold these permissions" in response.content
    assert not ApiToken.objects.filter(user=teammate).exists()


def test_admin_token_form_creates_a_scoped_token(admin_client, teammate):
    response = admin_client.post(reverse("admin:tokens_apitoken_add"), {
        "user": teammate.pk, "name": "x", "permissions": ["tools.read"], "ip_ranges": "10.0.0.0/8, 192.0.2.0/24",
        "quota_calls": "50"})
    assert response.status_code == 302
    token = ApiToken.objects.get(user=teammate)
    assert token.permissions == ["tools.read"]
    assert (token.ip_ranges, token.quota_calls) == (["10.0.0.0/8", "192.0.2.0/24"], 50)
