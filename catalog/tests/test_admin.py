"""The Django admin: every page renders, credentials and token secrets never appear, actions report."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse

from catalog import services
from catalog.credentials import credentials_headers
from catalog.models import ResourceTemplate, Tool, Upstream, VirtualServer
from teams.models import Membership
from tests.factories import (
    MembershipFactory,
    PromptFactory,
    ResourceFactory,
    TeamFactory,
    ToolFactory,
    UpstreamFactory,
    VirtualServerFactory,
)
from tests.browser import CHROMIUM, CHROMIUM_MISSING, chromium_page, password_login
from tests.processes import free_port
from tokens.authentication import token_authenticate
from tokens.models import ApiToken
from tokens.services import token_create

pytestmark = pytest.mark.django_db

STORED_SECRET = "admin-page-upstream-s3cret"
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def populated(owner):
    """At least one row of every kind, so changelists render their columns."""
    team = TeamFactory()
    MembershipFactory(user=owner, team=team, role=Membership.Role.ADMIN)
    upstream = UpstreamFactory(owner=owner)
    tool = ToolFactory(upstream=upstream)
    PromptFactory(upstream=upstream)
    ResourceFactory(upstream=upstream)
    ResourceTemplate.objects.create(
        upstream=upstream, owner=owner, uri_template="fixture://items/{id}", name="item"
    )
    Group.objects.create(name="operators")
    server = services.server_create(owner=owner, slug="populated", tools=[(tool, "")])
    token, _ = token_create(user=owner, name="populated", servers=[server])
    VirtualServerFactory(owner=owner)
    _identity_rows(owner, team)
    _populate_access(owner, team, token)
    _operations_rows(upstream)
    _rest_rows(owner)
    _capture_rows()
    _connection_rows(owner)
    return upstream


def _capture_rows() -> None:
    from audit.capture import Capture
    from audit.services import captured_messages_write

    captured_messages_write(captures=[Capture(direction="in", method="tools/call", name="fixture__echo",
                                              text='{"jsonrpc":"2.0","id":1,"method":"tools/call"}')])


def _connection_rows(owner) -> None:
    from catalog.credentials import connection_tokens_seal
    from catalog.models import UpstreamConnection

    vaulted = UpstreamFactory(owner=owner, name="vaulted", slug="vaulted", auth_type=Upstream.AuthType.OAUTH_USER)
    UpstreamConnection.objects.create(
        user=owner, upstream=vaulted, tokens_sealed=connection_tokens_seal("access", "refresh"),
        issuer="https://as.example.com", token_endpoint="https://as.example.com/token", client_id="gatehouse",
        resource="https://mcp.example.com/mcp",
    )


def _rest_rows(owner) -> None:
    from catalog.models import RestEndpoint

    api = UpstreamFactory(owner=owner, name="rest-api", slug="rest_api", transport=Upstream.Transport.REST)
    RestEndpoint.objects.create(tool=ToolFactory(upstream=api), path="/items")


def _identity_rows(user, team) -> None:
    """Rows for the admin pages of allauth and accounts (SSO, MFA, email addresses, group rules)."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.socialaccount.models import SocialAccount, SocialApp, SocialToken

    from accounts.models import SsoGroupRule

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    app = SocialApp.objects.create(provider="openid_connect", provider_id="idp", name="IdP", client_id="gatehouse")
    account = SocialAccount.objects.create(user=user, provider="idp", uid="subject-1", extra_data={"groups": []})
    SocialToken.objects.create(app=app, account=account, token="not-a-real-token")
    Authenticator.objects.create(user=user, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "00", "used_mask": 0})
    SsoGroupRule.objects.create(provider="idp", value="platform-admins", team=team, role=Membership.Role.ADMIN)


def _populate_access(owner, team, token):
    """Rows of the access-control models (teams, tokens)."""
    from teams.models import PlatformRole, Role
    from teams.services import invitation_create
    from tests.factories import UserFactory
    from tokens.services import jti_revoke, token_usage_record

    Role.objects.create(name="runner", permissions=["tools.read", "tools.execute"])
    PlatformRole.objects.create(user=UserFactory(email="auditor@example.com"), role=PlatformRole.Name.VIEWER)
    invitation_create(team=team, email="invitee@example.com", actor=owner)
    jti_revoke(jti="populated-jti", actor=owner)
    token_usage_record(method="GET", outcome="allowed", token_id=token.pk, endpoint="/api/v1/me/", ip="127.0.0.1")


def _operations_rows(upstream) -> None:
    """Health, audit checkpoints and the Celery beat schedules (ops)."""
    from django.utils import timezone
    from django_celery_beat.models import ClockedSchedule, CrontabSchedule, SolarSchedule

    from audit.models import AuditCheckpoint
    from catalog.models import HealthCheck, UpstreamHealth
    from config.schedules import schedules_ensure

    UpstreamHealth.objects.create(upstream=upstream)
    HealthCheck.objects.create(upstream=upstream, checked_at=timezone.now(), ok=False, latency_ms=3, error="refused")
    AuditCheckpoint.objects.create(seq=1, hash="0" * 64, first_seq=1, count=1, archive_name="a.jsonl", archive_sha256="0" * 64)
    schedules_ensure()
    CrontabSchedule.objects.create(minute="17", hour="3")
    SolarSchedule.objects.create(event="sunrise", latitude=52.5, longitude=13.4)
    ClockedSchedule.objects.create(clocked_time=timezone.now())


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_changelist_renders(admin_client, populated, model):
    assert admin_client.get(_url(model, "changelist")).status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_add_page_renders_where_adding_is_allowed(admin_client, admin_user, rf, model):
    request = rf.get("/")
    request.user = admin_user
    expected = 200 if admin.site._registry[model].has_add_permission(request) else 403
    assert admin_client.get(_url(model, "add")).status_code == expected


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_change_page_renders(admin_client, populated, model):
    obj = model._default_manager.order_by("pk").first()
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200


@pytest.fixture
def secured_upstream(owner):
    return services.upstream_create(
        owner=owner, name="secured", url="http://127.0.0.1:9/mcp", auth_type="bearer",
        credentials={"token": STORED_SECRET},
    )


def test_upstream_change_page_never_contains_the_stored_token(admin_client, secured_upstream):
    page = admin_client.get(_url(Upstream, "change", secured_upstream.pk)).content.decode()
    assert STORED_SECRET not in page
    assert secured_upstream.credentials_sealed not in page


def test_upstream_change_page_says_credentials_are_stored(admin_client, secured_upstream):
    response = admin_client.get(_url(Upstream, "change", secured_upstream.pk))
    assert 'alt="True"' in response.content.decode().split("Credentials stored", 1)[1][:400]


def test_saving_an_upstream_with_blank_token_keeps_the_stored_credentials(admin_client, secured_upstream, owner):
    form = {
        "name": "secured", "slug": secured_upstream.slug, "url": secured_upstream.url,
        "transport": "streamable_http", "auth_type": "bearer", "owner": owner.pk, "team": "",
        "visibility": "private", "enabled": "on", "timeout_seconds": "5", "session_binding": "pooled", "bearer_token": "",
        "basic_username": "", "basic_password": "", "custom_headers": "",
    }
    response = admin_client.post(_url(Upstream, "change", secured_upstream.pk), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    secured_upstream.refresh_from_db()
    assert secured_upstream.timeout_seconds == 5
    assert credentials_headers("bearer", secured_upstream.credentials_sealed) == (
        ("Authorization", f"Bearer {STORED_SECRET}"),
    )


def test_discover_now_action_discovers_and_reports(admin_client, owner, upstream_process):
    upstream = services.upstream_create(owner=owner, name="fixture", url=upstream_process.url, timeout_seconds=10)
    response = admin_client.post(
        _url(Upstream, "changelist"), {"action": "discover_now", "_selected_action": [upstream.pk]}, follow=True
    )
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any("Discovered 4 tools" in message and "fixture" in message for message in messages), messages
    assert Tool.objects.filter(upstream=upstream).count() == 4


def test_discover_now_action_reports_a_failure(admin_client, owner):
    upstream = services.upstream_create(
        owner=owner, name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", timeout_seconds=2
    )
    response = admin_client.post(
        _url(Upstream, "changelist"), {"action": "discover_now", "_selected_action": [upstream.pk]}, follow=True
    )
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert any(message.startswith("Discovery of gone failed") for message in messages), messages


@pytest.fixture
def admin_created_token(admin_client, owner):
    """A token made through the admin add form: (the follow-up response, raw token from the message)."""
    response = admin_client.post(
        _url(ApiToken, "add"), {"user": owner.pk, "name": "from-admin", "expires_days": ""}, follow=True
    )
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    found = [re.search(r"gth_\S+", message) for message in messages]
    raw = next(match.group(0) for match in found if match)
    return response, raw


def test_token_created_in_the_admin_is_shown_once_and_works(admin_created_token, owner):
    _, raw = admin_created_token
    found, _ = token_authenticate(raw)
    assert (found.user_id, found.name) == (owner.pk, "from-admin")


def test_admin_token_secret_is_not_shown_again(admin_client, admin_created_token):
    _, raw = admin_created_token
    assert raw not in admin_client.get(_url(ApiToken, "changelist")).content.decode()


def test_token_change_page_never_contains_the_secret(admin_client, admin_created_token):
    _, raw = admin_created_token
    token = ApiToken.objects.get(name="from-admin")
    page = admin_client.get(_url(ApiToken, "change", token.pk)).content.decode()
    assert raw[12:] not in page
    assert token.digest not in page


def test_revoke_action_revokes_tokens(admin_client, owner):
    token, raw = token_create(user=owner, name="doomed")
    admin_client.post(_url(ApiToken, "changelist"), {"action": "revoke", "_selected_action": [token.pk]})
    assert token_authenticate(raw) is None


def test_anonymous_user_is_sent_to_the_admin_login(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# --- a real browser, only where one is installed ------------------------------------------------------------------

@contextmanager
def _logged_in_admin_page(live_server, email: str, password: str):
    """Chromium logged in to the admin (/admin/login/ hands over to allauth's login, where lockout, SSO and MFA apply)."""
    with chromium_page() as page:
        password_login(page, live_server.url, email, password, path="/admin/login/")
        yield page


needs_browser = pytest.mark.skipif(CHROMIUM_MISSING, reason=f"no browser at {CHROMIUM}")


@needs_browser
@pytest.mark.django_db(transaction=True)
def test_admin_login_in_a_real_browser(live_server):
    from accounts.models import User

    User.objects.create_superuser(email="browser-admin@example.com", password="browser-admin-password")
    with _logged_in_admin_page(live_server, "browser-admin@example.com", "browser-admin-password") as page:
        assert "Gatehouse administration" in page.content()
        assert page.url.rstrip("/").endswith("/admin")


@needs_browser
@pytest.mark.django_db(transaction=True)
def test_upstream_page_in_a_real_browser_never_shows_the_stored_secret(live_server):
    from accounts.models import User

    admin = User.objects.create_superuser(email="browser-admin@example.com", password="browser-admin-password")
    upstream = services.upstream_create(
        owner=admin, name="guarded", url="http://127.0.0.1:9/mcp", auth_type="bearer",
        credentials={"token": "upstream-secret-value-123"},
    )
    with _logged_in_admin_page(live_server, "browser-admin@example.com", "browser-admin-password") as page:
        page.goto(f"{live_server.url}/admin/catalog/upstream/{upstream.pk}/change/")
        token_input = page.locator("input[name=bearer_token]")
        assert token_input.get_attribute("type") == "password"
        assert token_input.input_value() == ""
        assert "upstream-secret-value-123" not in page.content()
        assert page.locator("text=Credentials stored").count() == 1

def test_adding_an_upstream_in_the_admin_seals_credentials_and_discovers(admin_client, admin_user, upstream_process):
    response = admin_client.post(_url(Upstream, "add"), {
        "name": "Added in admin", "slug": "added", "url": upstream_process.url, "transport": "streamable_http",
        "enabled": "on", "timeout_seconds": "10", "session_binding": "pooled", "owner": admin_user.pk, "visibility": "private",
        "auth_type": "bearer", "bearer_token": "typed-into-the-admin",
    }, follow=True)
    assert response.status_code == 200
    upstream = Upstream.objects.get(slug="added")
    assert "typed-into-the-admin" not in upstream.credentials_sealed
    assert credentials_headers(upstream.auth_type, upstream.credentials_sealed) == (
        ("Authorization", "Bearer typed-into-the-admin"),
    )
    assert set(Tool.objects.filter(upstream=upstream).values_list("exposed_name", flat=True)) == {
        "added__echo", "added__add", "added__slow", "added__fail",
    }
    assert any("Discovered 4 tools" in str(message) for message in get_messages(response.wsgi_request))


def test_composing_a_virtual_server_in_the_admin_refuses_a_name_clash(admin_client, admin_user, owner):
    upstream = UpstreamFactory(owner=owner)
    first, second = ToolFactory(upstream=upstream), ToolFactory(upstream=upstream)
    data = {
        "slug": "composed", "name": "Composed", "description": "", "enabled": "on", "owner": admin_user.pk,
        "visibility": "private",
        "server_tools-TOTAL_FORMS": "2", "server_tools-INITIAL_FORMS": "0",
        "server_tools-MIN_NUM_FORMS": "0", "server_tools-MAX_NUM_FORMS": "1000",
        "server_tools-0-tool": first.pk, "server_tools-0-alias": "same",
        "server_tools-1-tool": second.pk, "server_tools-1-alias": "same",
        **{
            f"{prefix}-{field}": value
            for prefix in ("server_prompts", "server_resources")
            for field, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"), ("MIN_NUM_FORMS", "0"),
                                 ("MAX_NUM_FORMS", "1000"))
        },
    }
    refused = admin_client.post(_url(VirtualServer, "add"), data)
    assert refused.status_code == 200
    assert "would be both" in refused.content.decode()

    data["server_tools-1-alias"] = "different"
    admin_client.post(_url(VirtualServer, "add"), data)
    server = VirtualServer.objects.get(slug="composed")
    assert sorted(entry.alias for entry in server.server_tools.all()) == ["different", "same"]


def test_the_admin_sets_the_header_passthrough_allowlist(admin_client, secured_upstream, owner):
    form = {
        "name": "secured", "slug": secured_upstream.slug, "url": secured_upstream.url,
        "transport": "streamable_http", "auth_type": "bearer", "owner": owner.pk, "team": "",
        "visibility": "private", "enabled": "on", "timeout_seconds": "5", "session_binding": "pooled", "bearer_token": "",
        "basic_username": "", "basic_password": "", "custom_headers": "", "header_passthrough": '["X-Tenant"]',
    }
    response = admin_client.post(_url(Upstream, "change", secured_upstream.pk), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    secured_upstream.refresh_from_db()
    assert secured_upstream.header_passthrough == ["x-tenant"]
    refused = admin_client.post(_url(Upstream, "change", secured_upstream.pk), {**form, "header_passthrough": '["Cookie"]'})
    assert refused.status_code == 200 and "never passed to upstreams" in refused.content.decode()
