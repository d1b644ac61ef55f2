"""After MAX_FAILED_LOGIN_ATTEMPTS failures the account refuses every password login for
ACCOUNT_LOCKOUT_DURATION_MINUTES, says so, and unlocks by itself."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuthEvent, User
from accounts.services import user_unlock

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("lockout_settings")]

PASSWORD = "Sturdy-Lantern-48"
LOCKED_TEXT = "This account is locked after too many failed logins"


@pytest.fixture
def lockout_settings():
    with override_settings(MAX_FAILED_LOGIN_ATTEMPTS=3, ACCOUNT_LOCKOUT_DURATION_MINUTES=15,
                           FAILED_LOGIN_WINDOW_MINUTES=15):
        yield


@pytest.fixture
def person():
    return User.objects.create_user("person@example.com", PASSWORD)


def _login(client, password: str, email: str = "person@example.com"):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def _fail(client, times: int) -> None:
    for _ in range(times):
        assert _login(client, "not-the-password").status_code == 200


def test_failures_below_the_limit_do_not_lock(client, person):
    _fail(client, 2)
    assert _login(client, PASSWORD).status_code == 302


def test_reaching_the_limit_locks_and_records_a_lockout(client, person):
    _fail(client, 3)
    person.refresh_from_db()
    assert person.locked_until > timezone.now() + timedelta(minutes=14)
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOCKOUT, user=person).count() == 1


def test_locked_account_refuses_the_right_password_with_a_clear_message(client, person):
    _fail(client, 3)
    response = _login(client, PASSWORD)
    assert response.status_code == 200
    assert LOCKED_TEXT in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_failure_that_locks_already_says_locked(client, person):
    _fail(client, 2)
    assert LOCKED_TEXT in _login(client, "not-the-password").content.decode()


def test_lock_holds_for_direct_authenticate_calls(client, person):
    _fail(client, 3)
    assert authenticate(email="person@example.com", password=PASSWORD) is None
    assert authenticate(username="person@example.com", password=PASSWORD) is None


def test_failures_through_authenticate_count_towards_the_lock(person):
    for _ in range(3):
        assert authenticate(username="person@example.com", password="nope") is None
    person.refresh_from_db()
    assert person.locked_until is not None


def test_admin_login_page_goes_through_the_locking_login(client, person):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next=%2Fadmin%2F"


def test_attempts_during_a_lock_do_not_extend_it(client, person):
    _fail(client, 3)
    person.refresh_from_db()
    first_until = person.locked_until
    _fail(client, 4)
    person.refresh_from_db()
    assert person.locked_until == first_until


def test_lock_ends_by_itself(client, person):
    _fail(client, 3)
    User.objects.filter(pk=person.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert _login(client, PASSWORD).status_code == 302


def test_failures_older_than_the_window_are_forgotten(client, person):
    _fail(client, 2)
    User.objects.filter(pk=person.pk).update(last_failed_login_at=timezone.now() - timedelta(minutes=16))
    _fail(client, 1)
    person.refresh_from_db()
    assert person.locked_until is None


def test_successful_login_resets_the_count(client, person):
    _fail(client, 2)
    assert _login(client, PASSWORD).status_code == 302
    client.logout()
    _fail(client, 2)
    person.refresh_from_db()
    assert person.locked_until is None


def test_admin_can_unlock(client, person, admin_user):
    _fail(client, 3)
    user_unlock(user=person, actor=admin_user)
    assert _login(client, PASSWORD).status_code == 302


def test_unknown_accounts_are_not_locked_and_do_not_error(client):
    for _ in range(5):
        assert _login(client, "whatever-password", email="ghost@example.com").status_code == 200


def test_unlock_action_in_the_admin_unlocks_and_is_audited(client, person, admin_user):
    from audit.models import AuditEvent

    _fail(client, 3)
    client.force_login(admin_user)
    response = client.post(reverse("admin:accounts_user_changelist"),
                           {"action": "unlock", "_selected_action": [person.pk]}, follow=True)
    assert "Unlocked 1 account(s)." in response.content.decode()
    person.refresh_from_db()
    assert person.locked_until is None
    assert AuditEvent.objects.filter(action="accounts.user.unlock", actor_id=admin_user.pk).exists()


def test_unlock_command_unlocks(client, person):
    from io import StringIO

    from django.core.management import call_command

    _fail(client, 3)
    out = StringIO()
    call_command("unlock_user", "Person@Example.com", stdout=out)
    assert "Unlocked person@example.com." in out.getvalue()
    assert _login(client, PASSWORD).status_code == 302


def test_unlock_command_names_an_unknown_account():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No user with email ghost@example.com"):
        call_command("unlock_user", "ghost@example.com")
