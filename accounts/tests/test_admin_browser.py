"""A real browser (Playwright driving Debian's Chromium) at the admin: password + TOTP opens it, a wrong code does
not, and repeated wrong passwords lock the account with a message saying so."""
from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import AuthEvent, User
from accounts.tests.totp import current_code, totp_enrol, wrong_code
from tests.browser import CHROMIUM, CHROMIUM_MISSING, chromium_page, password_login

EMAIL = "browser-staff@example.com"
PASSWORD = "Browser-Staff-Key-77"

pytestmark = [
    pytest.mark.skipif(CHROMIUM_MISSING, reason=f"no browser at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _mfa_required():
    with override_settings(MFA_REQUIRED_FOR_STAFF=True, MAX_FAILED_LOGIN_ATTEMPTS=3):
        yield


@pytest.fixture
def staff_secret():
    staff = User.objects.create_user(EMAIL, PASSWORD, is_staff=True, is_superuser=True)
    return totp_enrol(staff)


def _password_step(page, live_server, password: str) -> None:
    password_login(page, live_server.url, EMAIL, password, path="/admin/")


def test_password_and_totp_code_open_the_admin(live_server, staff_secret):
    with chromium_page() as page:
        _password_step(page, live_server, PASSWORD)
        assert "Two-factor authentication" in page.content()
        page.fill("input[name=code]", current_code(staff_secret))
        page.click("text=Verify")
        page.wait_for_url(f"{live_server.url}/admin/")
        assert "Gatehouse administration" in page.content()


def test_wrong_totp_code_is_refused(live_server, staff_secret):
    with chromium_page() as page:
        _password_step(page, live_server, PASSWORD)
        page.fill("input[name=code]", wrong_code(staff_secret))
        page.click("text=Verify")
        page.wait_for_load_state()
        assert "Incorrect code" in page.content()
        page.goto(f"{live_server.url}/admin/")
        assert "Gatehouse administration" not in page.content()
        assert page.url.startswith(f"{live_server.url}/accounts/")  # still at the login, the code pending


def test_repeated_wrong_passwords_lock_the_account_and_say_so(live_server, staff_secret):
    with chromium_page() as page:
        for _ in range(3):
            _password_step(page, live_server, "not-the-password")
        assert "This account is locked after too many failed logins" in page.content()
        _password_step(page, live_server, PASSWORD)
        assert "This account is locked after too many failed logins" in page.content()
        assert "Two-factor authentication" not in page.content()
    assert AuthEvent.objects.filter(kind=AuthEvent.Kind.LOCKOUT, email=EMAIL).count() == 1


@override_settings(MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN=True)  # the live server is plain http on localhost
def test_security_key_enrolled_in_the_browser_opens_the_admin(live_server):
    from allauth.mfa.models import Authenticator

    staff = User.objects.create_user(EMAIL, PASSWORD, is_staff=True, is_superuser=True)
    with chromium_page() as page:
        # Chromium's virtual authenticator stands in for a USB security key.
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True,
        }})
        _password_step(page, live_server, PASSWORD)
        assert "Gatehouse administration" not in page.content()  # no second factor yet: sent to enrol one
        page.goto(f"{live_server.url}/accounts/2fa/webauthn/add/")
        assert "/accounts/reauthenticate/" in page.url  # adding a factor asks for the password again
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.fill("input[name=name]", "desk key")
        page.click("#mfa_webauthn_add")
        page.wait_for_url(lambda url: "/webauthn/add/" not in url)

        page.context.clear_cookies()
        _password_step(page, live_server, PASSWORD)
        page.click("#mfa_webauthn_authenticate")
        page.wait_for_url(f"{live_server.url}/admin/")
        assert "Gatehouse administration" in page.content()
    # The ORM stays outside the block: Playwright's sync API runs an event loop in this thread.
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.WEBAUTHN).count() == 1
    assert AuthEvent.objects.filter(user=staff, kind=AuthEvent.Kind.LOGIN).latest("created_at").detail == (
        "password+mfa:webauthn"
    )


def test_team_admin_with_totp_cannot_open_another_teams_upstream(live_server):
    from catalog import services as catalog_services
    from teams.models import Membership
    from tests.factories import MembershipFactory, TeamFactory, UserFactory

    ours, theirs = TeamFactory(name="Ours", slug="ours"), TeamFactory(name="Theirs", slug="theirs")
    team_admin = User.objects.create_user(EMAIL, PASSWORD, is_staff=True)
    secret = totp_enrol(team_admin)
    MembershipFactory(user=team_admin, team=ours, role=Membership.Role.ADMIN)
    stranger = UserFactory(email="stranger@example.com")
    catalog_services.upstream_create(owner=team_admin, name="ours-api", url="http://127.0.0.1:9/mcp", team=ours,
                                     visibility="team")
    foreign = catalog_services.upstream_create(owner=stranger, name="theirs-api", url="http://127.0.0.1:9/mcp",
                                               team=theirs, visibility="team")
    with chromium_page() as page:
        _password_step(page, live_server, PASSWORD)
        page.fill("input[name=code]", current_code(secret))
        page.click("text=Verify")
        page.wait_for_url(f"{live_server.url}/admin/")
        page.goto(f"{live_server.url}/admin/catalog/upstream/")
        listing = page.content()
        assert "ours-api" in listing and "theirs-api" not in listing
        page.goto(f"{live_server.url}/admin/catalog/upstream/{foreign.pk}/change/")
        assert "doesn’t exist" in page.content() and "theirs-api" not in page.content()
