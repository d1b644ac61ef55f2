"""A person connects an upstream in a real browser (Debian's Chromium): Gatehouse's connect page, the authorization
server's login and consent pages, and back to Gatehouse's list of connections."""
from __future__ import annotations

import pytest
from django.test import override_settings

from catalog import services as catalog_services
from catalog.models import Upstream, UpstreamConnection
from tests.browser import CHROMIUM, CHROMIUM_MISSING, chromium_page, password_login
from tests.factories import UserFactory
from tests.upstream_oauth import AVAILABLE, CLIENT_ID, CLIENT_SECRET, oauth_world

pytestmark = [
    pytest.mark.skipif(not AVAILABLE, reason="oidc-provider not installed (make oidc) or no node binary"),
    pytest.mark.skipif(CHROMIUM_MISSING, reason=f"no browser at {CHROMIUM}"),
    pytest.mark.django_db(transaction=True),
]


def test_a_user_connects_an_upstream_in_the_browser(live_server, tmp_path):
    user = UserFactory(email="ivy@example.com")
    user.set_password("Ivy-Sturdy-Lantern-1")
    user.save()
    redirect_uri = f"{live_server.url}/accounts/upstreams/oauth/callback/"
    with oauth_world(redirect_uri, tmp_path) as world, override_settings(GATEHOUSE_PUBLIC_URL=live_server.url):
        upstream = catalog_services.upstream_create(
            owner=user, name="browser", url=world.upstream_url, auth_type=Upstream.AuthType.OAUTH_USER,
            credentials={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        with chromium_page() as page:
            password_login(page, live_server.url, user.email, "Ivy-Sturdy-Lantern-1")
            page.goto(f"{live_server.url}/accounts/upstreams/")
            page.click("text=Connect browser")
            page.click("button[type=submit]")  # Gatehouse's confirmation
            page.fill("input[name=login]", "ivy")  # the authorization server's development login page
            page.fill("input[name=password]", "any password")
            page.click("button[type=submit]")
            page.click("button[type=submit]")  # consent
            page.wait_for_url(f"{live_server.url}/accounts/upstreams/")
            assert "Connected to browser." in page.content() and "Disconnect" in page.content()
    assert UpstreamConnection.objects.filter(user=user, upstream=upstream).exists()
