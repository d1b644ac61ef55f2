"""Every login, failure, logout, password change and registration leaves an AuthEvent with IP and user agent."""
from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuthEvent, User

pytestmark = pytest.mark.django_db

PASSWORD = "Sturdy-Lantern-48"
BROWSER = {"HTTP_USER_AGENT": "EventTest/1.0", "REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def person():
    return User.objects.create_user("person@example.com", PASSWORD)


def _login(client, email: str, password: str):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **BROWSER)


def _last(kind: str) -> AuthEvent:
    return AuthEvent.objects.filter(kind=kind).latest("created_at")


def test_login_is_recorded_with_ip_and_user_agent(client, person):
    assert _login(client, "person@example.com", PASSWORD).status_code == 302
    event = _last(AuthEvent.Kind.LOGIN)
    assert (event.user, event.ip, event.user_agent, event.detail) == (person, "203.0.113.7", "EventTest/1.0",
                                                                      "password")


def test_failed_login_is_recorded_with_the_attempted_email(client, person):
    assert _login(client, "Person@Example.com", "wrong-password-here").status_code == 200
    event = _last(AuthEvent.Kind.LOGIN_FAILED)
    assert (event.user, event.email, event.ip, event.detail) == (person, "person@example.com", "203.0.113.7",
                                                                 "wrong password")


def test_failed_login_for_an_unknown_account_is_recorded_without_a_user(client):
    _login(client, "nobody@example.com", "wrong-password-here")
    event = _last(AuthEvent.Kind.LOGIN_FAILED)
    assert (event.user, event.email, event.detail) == (None, "nobody@example.com", "unknown account")


def test_logout_is_recorded(client, person):
    _login(client, "person@example.com", PASSWORD)
    client.post(reverse("account_logout"), **BROWSER)
    assert _last(AuthEvent.Kind.LOGOUT).user == person


def test_password_change_through_allauth_is_recorded(client, person):
    _login(client, "person@example.com", PASSWORD)
    response = client.post(reverse("account_change_password"), {
        "oldpassword": PASSWORD, "password1": "Another-Sturdy-Lantern-9", "password2": "Another-Sturdy-Lantern-9",
    }, **BROWSER)
    assert response.status_code == 302, response.content.decode()[:2000]
    event = _last(AuthEvent.Kind.PASSWORD_CHANGED)
    assert (event.user, event.ip) == (person, "203.0.113.7")


def test_password_change_outside_a_request_is_recorded_too(person):
    person.set_password("Third-Sturdy-Lantern-7")
    person.save()
    event = _last(AuthEvent.Kind.PASSWORD_CHANGED)
    assert (event.user, event.ip) == (person, None)


def test_saving_a_user_without_a_new_password_records_no_password_change(person):
    person.full_name = "Per Son"
    person.save()
    assert not AuthEvent.objects.filter(kind=AuthEvent.Kind.PASSWORD_CHANGED).exists()


def test_creating_a_user_records_a_registration(person):
    assert _last(AuthEvent.Kind.REGISTERED).user == person


def test_registration_is_closed_by_default(client):
    response = client.post(reverse("account_signup"), {
        "email": "newcomer@example.com", "password1": "Brand-New-Lantern-5", "password2": "Brand-New-Lantern-5",
    })
    assert "Registration is closed" in response.content.decode()
    assert not User.objects.filter(email="newcomer@example.com").exists()


@override_settings(PUBLIC_REGISTRATION_ENABLED=True, ACCOUNT_EMAIL_VERIFICATION="mandatory")
def test_public_registration_records_the_registration_with_ip(client, mailoutbox):
    response = client.post(reverse("account_signup"), {
        "email": "newcomer@example.com", "password1": "Brand-New-Lantern-5", "password2": "Brand-New-Lantern-5",
    }, **BROWSER)
    assert response.status_code == 302
    event = _last(AuthEvent.Kind.REGISTERED)
    assert (event.email, event.ip, event.user_agent) == ("newcomer@example.com", "203.0.113.7", "EventTest/1.0")
    assert "newcomer@example.com" in mailoutbox[0].to


@override_settings(PUBLIC_REGISTRATION_ENABLED=True)
def test_registration_applies_the_password_policy(client):
    response = client.post(reverse("account_signup"), {
        "email": "newcomer@example.com", "password1": "lowercaseonly", "password2": "lowercaseonly",
    })
    assert "needs characters from at least 3 of these kinds" in response.content.decode()
    assert not User.objects.filter(email="newcomer@example.com").exists()
