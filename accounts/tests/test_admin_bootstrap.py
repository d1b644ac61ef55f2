"""The platform admin is created from the environment (or, locally, with a generated password), exactly once."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import override_settings

from accounts.models import User
from accounts.services import platform_admin_ensure_from_env
from config.settings import base as base_settings

pytestmark = pytest.mark.django_db

ADMIN_PASSWORD = "first-configured-password-1"


@pytest.fixture
def admin_env(monkeypatch):
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.delenv("PLATFORM_ADMIN_PASSWORD_FILE", raising=False)
    with override_settings(PLATFORM_ADMIN_EMAIL="Root@Example.COM"):
        yield


@pytest.fixture
def no_admin_env(monkeypatch):
    monkeypatch.delenv("PLATFORM_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("PLATFORM_ADMIN_PASSWORD_FILE", raising=False)
    with override_settings(PLATFORM_ADMIN_EMAIL=""):
        yield


def test_migrate_creates_the_configured_platform_admin(admin_env):
    call_command("migrate", verbosity=0, stdout=StringIO())
    admin = User.objects.get(email="root@example.com")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(ADMIN_PASSWORD)


def test_platform_admin_from_env_is_a_superuser_with_the_configured_password(admin_env):
    admin = platform_admin_ensure_from_env()
    assert (admin.email, admin.is_superuser, admin.is_staff) == ("root@example.com", True, True)
    assert admin.check_password(ADMIN_PASSWORD)


def test_second_ensure_creates_nothing(admin_env):
    first = platform_admin_ensure_from_env()
    second = platform_admin_ensure_from_env()
    assert second.pk == first.pk
    assert User.objects.count() == 1


def test_second_ensure_never_changes_the_password(admin_env, monkeypatch):
    platform_admin_ensure_from_env()
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", "a-different-password-2")
    admin = platform_admin_ensure_from_env()
    admin.refresh_from_db()
    assert admin.check_password(ADMIN_PASSWORD)


def test_ensure_without_configured_credentials_creates_nobody(no_admin_env):
    assert platform_admin_ensure_from_env() is None
    assert not User.objects.exists()


def test_local_ensure_platform_admin_prints_a_working_password_once(no_admin_env):
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("ensure_platform_admin", stdout=out)
    password = re.search(r"with password (\S+)", out.getvalue()).group(1)
    assert User.objects.get(email="admin@localhost").check_password(password)


def test_local_ensure_platform_admin_second_run_reports_password_unchanged(no_admin_env):
    first, second = StringIO(), StringIO()
    with override_settings(DEBUG=True):
        call_command("ensure_platform_admin", stdout=first)
        call_command("ensure_platform_admin", stdout=second)
    password = re.search(r"with password (\S+)", first.getvalue()).group(1)
    assert "password unchanged" in second.getvalue()
    assert password not in second.getvalue()
    assert User.objects.get(email="admin@localhost").check_password(password)


def test_ensure_platform_admin_outside_local_mode_generates_no_password(no_admin_env):
    out, err = StringIO(), StringIO()
    with override_settings(DEBUG=False):
        call_command("ensure_platform_admin", stdout=out, stderr=err)
    assert "PLATFORM_ADMIN_EMAIL" in err.getvalue()
    assert not User.objects.exists()


def test_base_settings_hash_passwords_with_argon2_first():
    assert base_settings.PASSWORD_HASHERS[0] == "accounts.hashers.GatehouseArgon2PasswordHasher"


def test_platform_admin_password_is_stored_as_argon2_under_base_settings(admin_env):
    with override_settings(PASSWORD_HASHERS=base_settings.PASSWORD_HASHERS):
        admin = platform_admin_ensure_from_env()
    assert admin.password.startswith("argon2$")


def test_email_is_the_login_field():
    assert User.USERNAME_FIELD == "email"


def test_email_is_stored_lowercase():
    user = User.objects.create_user("Mixed.Case@Example.COM", "a-long-enough-password")
    assert user.email == "mixed.case@example.com"


def test_login_with_the_email_in_another_case_succeeds():
    user = User.objects.create_user("person@example.com", "a-long-enough-password")
    assert authenticate(email="Person@Example.com", password="a-long-enough-password") == user
