"""MFA: TOTP at login, and MFA_REQUIRED_FOR_STAFF keeping the admin shut until a second factor is enrolled and
used in this session."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import override_settings
from django.urls import reverse

from accounts.models import AuthEvent, User
from accounts.tests.totp import current_code, totp_enrol, wrong_code
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

PASSWORD = "Staff-Lantern-Key-31"


@pytest.fixture
def staff():
    return User.objects.create_user("staff@example.com", PASSWORD, is_staff=True, is_superuser=True)


def _password_step(client):
    return client.post(reverse("account_login") + "?next=/admin/", {"login": "staff@example.com",
                                                                     "password": PASSWORD})


def test_enrolled_user_is_asked_for_a_code_after_the_password(client, staff):
    totp_enrol(staff)
    response = _password_step(client)
    assert response["Location"].startswith(reverse("mfa_authenticate"))
    assert "_auth_user_id" not in client.session


def test_password_and_totp_code_open_the_admin(client, staff):
    secret = totp_enrol(staff)
    _password_step(client)
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert AuthEvent.objects.get(kind=AuthEvent.Kind.LOGIN, user=staff).detail == "password+mfa:totp"
    with override_settings(MFA_REQUIRED_FOR_STAFF=True):
        assert client.get("/admin/").status_code == 200


def test_wrong_code_is_refused(client, staff):
    secret = totp_enrol(staff)
    _password_step(client)
    response = client.post(reverse("mfa_authenticate"), {"code": wrong_code(secret)})
    assert response.status_code == 200
    assert "Incorrect code" in response.content.decode()
    assert "_auth_user_id" not in client.session


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_staff_without_a_second_factor_are_sent_to_enrol(client, staff):
    client.force_login(staff)
    response = client.get("/admin/catalog/upstream/")
    assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_staff_whose_session_skipped_the_second_factor_are_asked_for_it(client, staff):
    totp_enrol(staff)
    client.force_login(staff)
    response = client.get("/admin/catalog/upstream/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('mfa_reauthenticate')}?next=%2Fadmin%2Fcatalog%2Fupstream%2F"


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_reauthenticating_with_a_code_opens_the_admin(client, staff):
    secret = totp_enrol(staff)
    client.force_login(staff)
    client.post(f"{reverse('mfa_reauthenticate')}?next=/admin/", {"code": current_code(secret)})
    assert client.get("/admin/").status_code == 200


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_requirement_concerns_the_admin_only(client, staff):
    client.force_login(staff)
    assert client.get(reverse("account_home")).status_code == 200


def test_staff_without_mfa_open_the_admin_when_not_required(client, staff):
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_non_staff_user_at_the_admin_login_is_told_why(client):
    client.force_login(User.objects.create_user("plain@example.com", PASSWORD))
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 403
    assert "not a staff account" in response.content.decode()


def _settings_value(expression: str, module: str, **env: str) -> str:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": module, **env}
    code = f"import django; django.setup(); from django.conf import settings; from django.urls import reverse; " \
           f"print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_production_settings_require_mfa_for_staff_by_default():
    import base64
    import secrets

    def ring():
        return "p1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()

    assert _settings_value(
        "settings.MFA_REQUIRED_FOR_STAFF", "config.settings.production", SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="gatehouse.example.com", GATEHOUSE_ENCRYPTION_KEYS=ring(), GATEHOUSE_TOKEN_PEPPERS=ring(),
    ) == "True"


def test_admin_url_is_configurable():
    assert _settings_value("reverse('admin:index'), reverse('admin:login')", "config.settings.test",
                           ADMIN_URL="/control-room/") == "/control-room/ /control-room/login/"


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_staff_without_mfa_can_enrol_and_then_open_the_admin(client, staff):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    _password_step(client)
    assert client.get("/admin/")["Location"] == reverse("mfa_activate_totp")
    response = client.get(reverse("mfa_activate_totp"))
    assert response["Location"].startswith(reverse("account_reauthenticate"))  # allauth asks for the password again
    client.post(response["Location"], {"password": PASSWORD})
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    secret = client.session["mfa.totp.secret"]
    client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()

    # Enrolment is not yet a use of the factor in this session: the admin asks for it once.
    assert client.get("/admin/")["Location"].startswith(reverse("mfa_reauthenticate"))
    codes = RecoveryCodes(Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES))
    client.post(f"{reverse('mfa_reauthenticate')}?next=/admin/", {"code": codes.get_unused_codes()[0]})
    assert client.get("/admin/").status_code == 200


def test_admin_login_ignores_a_next_pointing_elsewhere(client):
    response = client.get("/admin/login/?next=https://evil.example/phish")
    assert response["Location"] == f"{reverse('account_login')}?next=%2Fadmin%2F"
