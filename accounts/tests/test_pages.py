"""allauth's pages in Gatehouse's templates: login, logout, password reset, email verification."""
from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuthEvent, User

pytestmark = pytest.mark.django_db

PASSWORD = "Sturdy-Lantern-48"


@pytest.mark.parametrize("name", ["account_login", "account_reset_password", "account_reset_password_done",
                                  "account_signup"])
def test_page_renders_in_gatehouse_layout_without_external_assets(client, name):
    page = client.get(reverse(name)).content.decode()
    assert '<link rel="stylesheet" href="/static/accounts/gatehouse.css">' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_login_page_offers_configured_sso_providers(client):
    from config.settings.sso import oidc_apps

    apps = oidc_apps('[{"id": "keycloak", "name": "Acme Keycloak", "server_url": "https://kc.example/realms/a", '
                     '"client_id": "gatehouse", "secret": "s"}]')
    with override_settings(SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": apps}}):
        page = client.get(reverse("account_login")).content.decode()
    assert "Acme Keycloak" in page and "/accounts/oidc/keycloak/login/" in page


def test_password_reset_by_email_sets_a_new_password(client, mailoutbox):
    person = User.objects.create_user("person@example.com", PASSWORD)
    client.post(reverse("account_reset_password"), {"email": "person@example.com"})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mailoutbox[0].body).group(1)
    form_url = client.get(link)["Location"]  # allauth moves the key out of the URL into the session
    response = client.post(form_url, {"password1": "Fresh-Sturdy-Lantern-3", "password2": "Fresh-Sturdy-Lantern-3"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.check_password("Fresh-Sturdy-Lantern-3")
    assert AuthEvent.objects.filter(user=person, kind=AuthEvent.Kind.PASSWORD_CHANGED).exists()


def test_password_reset_refuses_a_weak_new_password(client, mailoutbox):
    User.objects.create_user("person@example.com", PASSWORD)
    client.post(reverse("account_reset_password"), {"email": "person@example.com"})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mailoutbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"password1": "short", "password2": "short"})
    assert "too short" in response.content.decode()


def test_password_reset_for_an_unknown_address_looks_the_same(client, mailoutbox):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("account_reset_password_done")


@override_settings(PUBLIC_REGISTRATION_ENABLED=True, ACCOUNT_EMAIL_VERIFICATION="mandatory")
def test_email_verification_link_confirms_the_address(client, mailoutbox):
    from allauth.account.models import EmailAddress

    response = client.post(reverse("account_signup"), {
        "email": "newcomer@example.com", "password1": "Brand-New-Lantern-5", "password2": "Brand-New-Lantern-5",
    })
    assert "Verify your email address" in client.get(response["Location"]).content.decode()
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", mailoutbox[0].body).group(1)
    assert "Confirm your email address" in client.get(link).content.decode()
    client.post(link)
    assert EmailAddress.objects.get(email="newcomer@example.com").verified
