"""Upstream OAuth end to end: a real authorization server (npm's oidc-provider: PKCE required, resource indicators,
JWT access tokens, client credentials, dynamic registration), a real MCP upstream that accepts only its tokens for
its own audience, Gatehouse as a real server process, and the official MCP SDK client."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection as db_connection
from django.test import Client, override_settings
from mcp.shared.exceptions import MCPError
from mcp_types import URL_ELICITATION_REQUIRED

from catalog import services as catalog_services
from catalog.models import Tool, Upstream, UpstreamConnection
from tests.factories import UserFactory
from tests.mcp_clients import sdk_client
from tests.processes import gatehouse_server
from tests.upstream_oauth import (
    AVAILABLE,
    CLIENT_ID,
    CLIENT_SECRET,
    SERVICE_CLIENT_ID,
    SERVICE_CLIENT_SECRET,
    authorize,
    oauth_world,
)
from tokens import services as token_services

pytestmark = [
    pytest.mark.skipif(not AVAILABLE, reason="oidc-provider not installed (make oidc) or no node binary"),
    pytest.mark.django_db(transaction=True),
]

REDIRECT_URI = "http://127.0.0.1:8000/accounts/upstreams/oauth/callback/"
TOKEN_TTL = 8  # seconds: short, so a test can outlive one
REFRESH_MARGIN = 2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with oauth_world(REDIRECT_URI, Path(tmp_path_factory.mktemp("oauth")), token_ttl=TOKEN_TTL) as world:
        yield world


@pytest.fixture(scope="module")
def gatehouse(django_db_setup, django_db_blocker, tmp_path_factory):
    log = Path(tmp_path_factory.mktemp("gateway")) / "gateway.log"
    env = {"GATEHOUSE_UPSTREAM_OAUTH_REFRESH_MARGIN_SECONDS": str(REFRESH_MARGIN)}
    with gatehouse_server(db_connection.settings_dict, log, extra_env=env) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def _refresh_margin():
    with override_settings(GATEHOUSE_UPSTREAM_OAUTH_REFRESH_MARGIN_SECONDS=REFRESH_MARGIN):
        yield


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _start(browser: Client, slug: str) -> str:
    response = browser.post(f"/accounts/upstreams/{slug}/connect/")
    assert response.status_code == 302, response.content.decode()[:500]
    return response["Location"]


def _back(browser: Client, callback_url: str, **changes: str | None):
    parts = urlsplit(callback_url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return browser.get(f"{parts.path}?{urlencode(query)}")


def _connect(user, slug: str, login: str) -> None:
    browser = _browser(user)
    response = _back(browser, authorize(_start(browser, slug), login, REDIRECT_URI))
    page = response.content.decode().split("<main>")[-1][:400]
    assert response.status_code == 302 and response["Location"].endswith("/accounts/upstreams/"), page


def _per_user_upstream(owner, world, name: str = "vaulted", **credentials) -> Upstream:
    return catalog_services.upstream_create(
        owner=owner, name=name, url=world.upstream_url, auth_type=Upstream.AuthType.OAUTH_USER,
        credentials=credentials or {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, visibility="public",
        timeout_seconds=10,
    )


def _serve(owner, upstream: Upstream, slug: str) -> None:
    report = catalog_services.upstream_discover(upstream=upstream)
    assert report.ok, report.error
    tools = [(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    catalog_services.server_create(owner=owner, slug=slug, tools=tools, visibility="public")


def _token(user) -> str:
    return token_services.token_create(user=user, name="oauth-tests")[1]


def _call(base_url: str, slug: str, token: str, tool: str, *, wait_for_catalog: bool = True):
    """Call ``tool`` through Gatehouse; a few retries while the gateway notices a new catalog version."""

    async def once():
        try:
            async with sdk_client(f"{base_url}/servers/{slug}/mcp", token) as client:
                return await client.call_tool(tool, {})
        except BaseExceptionGroup as group:  # the SDK client's task group wraps the error
            errors = group.subgroup(MCPError)
            if errors is None:
                raise
            while isinstance(errors, BaseExceptionGroup):
                errors = errors.exceptions[0]
            raise errors from None

    deadline = time.monotonic() + (5 if wait_for_catalog else 0)
    while True:
        try:
            result = asyncio.run(once())
            return result.content[0].text
        except MCPError as exc:
            if time.monotonic() > deadline or exc.code != URL_ELICITATION_REQUIRED:
                raise
            time.sleep(0.5)


def test_each_user_calls_the_upstream_with_their_own_token(world, gatehouse):
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    upstream = _per_user_upstream(alice, world)
    _connect(alice, upstream.slug, "alice")
    _serve(alice, upstream, "vault")  # discovery used the owner's connection
    alice_token, bob_token = _token(alice), _token(bob)

    assert _call(gatehouse, "vault", alice_token, "vaulted__whoami") == "alice"
    with pytest.raises(MCPError) as refused:
        _call(gatehouse, "vault", bob_token, "vaulted__whoami", wait_for_catalog=False)
    assert refused.value.code == URL_ELICITATION_REQUIRED
    assert refused.value.error.data["connectUrl"] == "http://127.0.0.1:8000/accounts/upstreams/vaulted/connect/"

    _connect(bob, upstream.slug, "bob")
    assert _call(gatehouse, "vault", bob_token, "vaulted__whoami") == "bob"
    assert _call(gatehouse, "vault", alice_token, "vaulted__whoami") == "alice"


def test_tokens_are_stored_sealed_and_refreshed_after_expiry(world, gatehouse):
    carol = UserFactory(email="carol@example.com")
    upstream = _per_user_upstream(carol, world, name="sealed")
    _connect(carol, upstream.slug, "carol")
    _serve(carol, upstream, "sealed")
    stored = UpstreamConnection.objects.get(user=carol, upstream=upstream)
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_upstreamconnection WHERE id = %s", [stored.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert "eyJ" not in row  # no JWT (access token) in any column
    from catalog.credentials import connection_tokens_open

    access, refresh = connection_tokens_open(stored.tokens_sealed)
    assert access.startswith("eyJ") and refresh and access not in row and refresh not in row
    from audit.models import AuditEvent

    connected = AuditEvent.objects.get(action="upstream.connect")
    assert connected.data["issuer"] == world.issuer and "eyJ" not in str(connected.data)

    carol_token = _token(carol)
    assert _call(gatehouse, "sealed", carol_token, "sealed__whoami") == "carol"
    time.sleep(TOKEN_TTL - REFRESH_MARGIN + 1)
    assert _call(gatehouse, "sealed", carol_token, "sealed__whoami") == "carol"
    stored.refresh_from_db()
    assert stored.refreshed_at is not None
    assert connection_tokens_open(stored.tokens_sealed)[0] != access


def test_a_callback_with_a_wrong_state_or_iss_is_refused(world):
    dave = UserFactory(email="dave@example.com")
    upstream = _per_user_upstream(dave, world, name="checked")
    browser = _browser(dave)

    back = authorize(_start(browser, upstream.slug), "dave", REDIRECT_URI)
    response = _back(browser, back, iss="http://127.0.0.1:1/not-the-issuer")
    assert response.status_code == 400 and b"(iss)" in response.content
    # The state was spent by that attempt: the genuine answer cannot be replayed.
    response = _back(browser, back)
    assert response.status_code == 400 and b"state" in response.content

    back = authorize(_start(browser, upstream.slug), "dave", REDIRECT_URI)
    response = _back(browser, back, iss=None)  # the server advertises iss, so a missing one is refused too
    assert response.status_code == 400 and b"(iss)" in response.content

    back = authorize(_start(browser, upstream.slug), "dave", REDIRECT_URI)
    assert _back(browser, back, state="forged").status_code == 400
    # Another user's session cannot complete this user's attempt.
    assert _back(_browser(UserFactory()), back).status_code == 400
    assert not UpstreamConnection.objects.exists()
    assert _back(browser, back).status_code == 302
    assert UpstreamConnection.objects.filter(user=dave, upstream=upstream).exists()


def test_a_disconnected_user_is_asked_to_connect_again(world, gatehouse):
    erin = UserFactory(email="erin@example.com")
    upstream = _per_user_upstream(erin, world, name="leaving")
    _connect(erin, upstream.slug, "erin")
    _serve(erin, upstream, "leaving")
    erin_token = _token(erin)
    assert _call(gatehouse, "leaving", erin_token, "leaving__whoami") == "erin"

    response = _browser(erin).post(f"/accounts/upstreams/{upstream.slug}/disconnect/")
    assert response.status_code == 302
    assert not UpstreamConnection.objects.filter(user=erin).exists()
    deadline = time.monotonic() + 5
    while True:
        try:
            _call(gatehouse, "leaving", erin_token, "leaving__whoami", wait_for_catalog=False)
        except MCPError as exc:
            assert exc.code == URL_ELICITATION_REQUIRED
            break
        assert time.monotonic() < deadline, "the gateway kept using a disconnected user's token"
        time.sleep(0.5)


def test_client_credentials_upstream(world, gatehouse):
    owner = UserFactory(email="service-owner@example.com")
    upstream = catalog_services.upstream_create(
        owner=owner, name="service", url=world.upstream_url, auth_type=Upstream.AuthType.OAUTH_CLIENT_CREDENTIALS,
        credentials={"issuer": world.issuer, "client_id": SERVICE_CLIENT_ID, "client_secret": SERVICE_CLIENT_SECRET,
                     "scope": "tools"},
        visibility="public", timeout_seconds=10,
    )
    _serve(owner, upstream, "service")
    caller = UserFactory(email="service-caller@example.com")
    assert _call(gatehouse, "service", _token(caller), "service__whoami") == SERVICE_CLIENT_ID
    assert _call(gatehouse, "service", _token(owner), "service__whoami") == SERVICE_CLIENT_ID


def test_dynamic_client_registration_only_with_an_allowed_issuer(world):
    frank = UserFactory(email="frank@example.com")
    upstream = _per_user_upstream(frank, world, name="registered", scope="tools")
    browser = _browser(frank)
    response = browser.post(f"/accounts/upstreams/{upstream.slug}/connect/")
    assert response.status_code == 502 and b"GATEHOUSE_UPSTREAM_OAUTH_DCR_ISSUERS" in response.content

    with override_settings(GATEHOUSE_UPSTREAM_OAUTH_DCR_ISSUERS=[world.issuer]):
        _connect(frank, upstream.slug, "frank")
    stored = UpstreamConnection.objects.get(user=frank, upstream=upstream)
    assert stored.client_id not in (CLIENT_ID, SERVICE_CLIENT_ID)
    report = catalog_services.upstream_discover(upstream=upstream)
    assert report.ok and "registered__whoami" in report.tools


def _poison(target) -> str:
    """Put a token the upstream refuses in this process's memory, as if the real one had been revoked."""
    from proxy.upstream import oauth

    bogus = "not-a-valid-token"
    oauth._tokens.put(oauth._key(target), (bogus, time.time() + 3600))
    return bogus


@pytest.mark.parametrize("kind", ["client", "user"])
def test_an_upstream_401_fetches_a_new_token_once(world, kind):
    from catalog.selectors import upstream_target
    from proxy.upstream import oauth

    owner = UserFactory(email=f"refused-{kind}@example.com")
    if kind == "client":
        upstream = catalog_services.upstream_create(
            owner=owner, name="refetch", url=world.upstream_url, auth_type=Upstream.AuthType.OAUTH_CLIENT_CREDENTIALS,
            credentials={"issuer": world.issuer, "client_id": SERVICE_CLIENT_ID,
                         "client_secret": SERVICE_CLIENT_SECRET, "scope": "tools"},
            timeout_seconds=10,
        )
    else:
        upstream = _per_user_upstream(owner, world, name="refetch")
        _connect(owner, upstream.slug, "grace")
    target = upstream_target(upstream)
    bogus = _poison(target)
    report = catalog_services.upstream_discover(upstream=upstream)  # discovery goes through the same auth
    assert report.ok, report.error
    token, _expiry = oauth._tokens.get(oauth._key(target))
    assert token != bogus and token.startswith("eyJ")


def test_concurrent_calls_share_one_refresh(world):
    import datetime

    from django.utils import timezone

    from catalog.credentials import connection_tokens_open
    from catalog.selectors import upstream_target
    from proxy.upstream.oauth import access_token

    henry = UserFactory(email="henry@example.com")
    upstream = _per_user_upstream(henry, world, name="together")
    _connect(henry, upstream.slug, "henry")
    stored = UpstreamConnection.objects.get(user=henry)
    old = connection_tokens_open(stored.tokens_sealed)[0]
    UpstreamConnection.objects.filter(pk=stored.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    target = upstream_target(upstream, user_id=henry.pk)

    async def together():
        return await asyncio.gather(*(access_token(target) for _ in range(5)))

    tokens = set(asyncio.run(together()))
    assert len(tokens) == 1 and old not in tokens  # one refresh served all five
    stored.refresh_from_db()
    assert connection_tokens_open(stored.tokens_sealed)[0] in tokens


def test_add_upstream_command_registers_oauth_upstreams(world, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    UserFactory(email="ops@example.com")
    secret_file = tmp_path / "secret"
    secret_file.write_text(SERVICE_CLIENT_SECRET)
    out = StringIO()
    call_command("add_upstream", "--name", "cli-service", "--url", world.upstream_url, "--owner", "ops@example.com",
                 "--oauth", "client-credentials", "--oauth-issuer", world.issuer, "--oauth-client-id",
                 SERVICE_CLIENT_ID, "--oauth-client-secret-file", str(secret_file), "--oauth-scope", "tools",
                 stdout=out)
    assert "cli_service__whoami" in out.getvalue() and SERVICE_CLIENT_SECRET not in out.getvalue()
    call_command("add_upstream", "--name", "cli-user", "--url", world.upstream_url, "--owner", "ops@example.com",
                 "--oauth", "user", "--oauth-client-id", CLIENT_ID, stdout=out)
    assert "/accounts/upstreams/cli_user/connect/" in out.getvalue()
    assert Upstream.objects.get(slug="cli_user").auth_type == Upstream.AuthType.OAUTH_USER
