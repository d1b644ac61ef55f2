"""SSO configuration from the environment, allowed domains, and group → team role rules."""
from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from accounts.models import SsoGroupRule
from accounts.services import sso_claims, sso_email_allowed, sso_group_rules_apply
from audit.models import AuditEvent
from config.settings import sso
from teams.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory

KEYCLOAK = {"id": "keycloak", "name": "Keycloak", "server_url": "https://kc.example/realms/acme",
            "client_id": "gatehouse", "secret": "kc-secret"}


def test_oidc_providers_become_openid_connect_apps():
    (app,) = sso.oidc_apps(json.dumps([KEYCLOAK]))
    assert (app["provider_id"], app["client_id"], app["settings"]["server_url"]) == (
        "keycloak", "gatehouse", "https://kc.example/realms/acme")
    assert app["settings"]["oauth_pkce_enabled"] is True


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "not valid JSON"),
    ('{"id": "x"}', "must be a JSON list"),
    (json.dumps([{**KEYCLOAK, "secret": ""}]), "lacks secret"),
    (json.dumps([{**KEYCLOAK, "id": "github"}]), "not a built-in"),
    (json.dumps([KEYCLOAK, KEYCLOAK]), "must be unique"),
])
def test_bad_oidc_provider_config_refuses_to_start(raw, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        sso.oidc_apps(raw)


def test_built_in_providers_come_from_their_env_vars(monkeypatch):
    monkeypatch.setenv("SSO_GITHUB_CLIENT_ID", "gh-id")
    monkeypatch.setenv("SSO_GITHUB_CLIENT_SECRET", "gh-secret")
    monkeypatch.setenv("SSO_MICROSOFT_CLIENT_ID", "ms-id")
    monkeypatch.setenv("SSO_MICROSOFT_CLIENT_SECRET", "ms-secret")
    monkeypatch.setenv("SSO_MICROSOFT_TENANT", "contoso.onmicrosoft.com")
    monkeypatch.setenv("SSO_OIDC_PROVIDERS", json.dumps([KEYCLOAK]))
    providers = sso.socialaccount_providers()
    assert providers["github"]["APPS"][0]["client_id"] == "gh-id"
    assert providers["microsoft"]["APPS"][0]["settings"]["tenant"] == "contoso.onmicrosoft.com"
    assert providers["openid_connect"]["APPS"][0]["provider_id"] == "keycloak"
    assert "google" not in providers


def test_a_client_id_without_its_secret_refuses_to_start(monkeypatch):
    monkeypatch.setenv("SSO_OKTA_CLIENT_ID", "okta-id")
    with pytest.raises(ImproperlyConfigured, match="SSO_OKTA_CLIENT_SECRET"):
        sso.socialaccount_providers()


@override_settings(SSO_ALLOWED_EMAIL_DOMAINS=["corp.example"])
def test_allowed_domains_are_matched_exactly():
    assert sso_email_allowed(email="a@CORP.example")
    assert not sso_email_allowed(email="a@evilcorp.example")
    assert not sso_email_allowed(email="a@corp.example.evil")
    assert not sso_email_allowed(email="")


def test_oidc_claims_merge_id_token_and_userinfo():
    assert sso_claims({"id_token": {"groups": ["a"], "sub": "1"}, "userinfo": {"groups": ["b"]}}) == {
        "groups": ["b"], "sub": "1"}
    assert sso_claims({"login": "octocat"}) == {"login": "octocat"}


@pytest.mark.django_db
def test_highest_matching_role_wins_and_existing_membership_is_updated():
    user, team, other = UserFactory(), TeamFactory(), TeamFactory()
    MembershipFactory(user=user, team=team, role=Membership.Role.VIEWER)
    SsoGroupRule.objects.create(provider="kc", value="devs", team=team, role=Membership.Role.DEVELOPER)
    SsoGroupRule.objects.create(provider="kc", value="admins", team=team, role=Membership.Role.ADMIN)
    SsoGroupRule.objects.create(provider="kc", claim="department", value="ops", team=other,
                                role=Membership.Role.VIEWER)
    SsoGroupRule.objects.create(provider="other-idp", value="devs", team=other, role=Membership.Role.ADMIN)

    sso_group_rules_apply(user=user, provider="kc", claims={"groups": ["devs", "admins"], "department": "ops"})

    mapped = Membership.objects.filter(user=user, team__personal_for__isnull=True)  # not the user's personal team
    assert dict(mapped.values_list("team_id", "role")) == {team.pk: Membership.Role.ADMIN, other.pk: Membership.Role.VIEWER}
    assert AuditEvent.objects.filter(action="teams.membership.sso_mapped").count() == 2


@pytest.mark.django_db
def test_no_matching_group_changes_nothing():
    user, team = UserFactory(), TeamFactory()
    SsoGroupRule.objects.create(provider="kc", value="admins", team=team, role=Membership.Role.ADMIN)
    assert sso_group_rules_apply(user=user, provider="kc", claims={"groups": "devs"}) == {}
    assert not Membership.objects.filter(user=user, team__personal_for__isnull=True).exists()
