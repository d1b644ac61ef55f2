"""Token scopes: containment at creation, lifetime cap, the team-claim rules, IP ranges, UTC windows, quotas, usage
records, trusted-proxy headers, forged tokens and constant-time comparison."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone as dt_timezone

import pytest
from channels.testing import ApplicationCommunicator
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Tool
from teams.models import Membership
from teams.permissions import VIEW
from tests.factories import MembershipFactory, ToolFactory, UpstreamFactory
from tokens import secrets as token_secrets
from tokens.authentication import credential_check
from tokens.models import TokenUsage
from tokens.scopes import Window
from tokens.services import TokenError, token_create
from tokens.usage import UsageBuffer, UsageEntry

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def _get(raw: str, path: str = ME, **extra):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get(path, **extra)


# --- containment and lifetime ----------------------------------------------------------------------------------------

def test_token_cannot_carry_a_permission_its_creator_lacks(teammate):
    with pytest.raises(TokenError, match="admin.user_management"):
        token_create(user=teammate, name="x", permissions=["tools.read", "admin.user_management"])


def test_unknown_permission_in_a_scope_is_refused(owner):
    with pytest.raises(TokenError, match="Unknown permission"):
        token_create(user=owner, name="x", permissions=["tools.launch"])


def test_team_token_needs_tokens_manage_and_caps_at_the_team_role(team, owner, teammate):
    with pytest.raises(TokenError, match="manage the team's tokens"):
        token_create(user=teammate, name="x", team=team)
    token, raw = token_create(user=owner, name="ci", team=team, permissions=["tools.execute"])
    assert credential_check(raw).principal.team_scope == {team.pk}


def test_token_teams_must_be_the_creators(owner, outsider, team):
    with pytest.raises(TokenError, match="teams you belong to"):
        token_create(user=outsider, name="x", teams=[team.pk])


def test_lifetime_is_capped(owner):
    with override_settings(TOKEN_MAX_LIFETIME_DAYS=30):
        with pytest.raises(TokenError, match="at most 30 days"):
            token_create(user=owner, name="x", expires_days=31)
        token, _ = token_create(user=owner, name="x")
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)


def test_api_refuses_a_bad_scope_with_a_reason(owner):
    client = APIClient()
    client.force_authenticate(owner)
    for payload, words in [
        ({"name": "x", "ip_ranges": ["10.0.0.0/33"]}, "Not an IP range"),
        ({"name": "x", "time_windows": [{"start": "25:00", "end": "10:00"}]}, "time_windows"),
        ({"name": "x", "permissions": ["admin.security_audit"]}, "do not hold"),
        ({"name": "x", "quota_calls": 0}, "quota_calls"),
    ]:
        response = client.post("/api/v1/tokens/", payload, format="json")
        assert response.status_code == 400 and words in response.content.decode(), response.content


# --- team claims ----------------------------------------------------------------------------------------------------

@pytest.fixture
def shelves(team, owner, outsider, admin_user):
    """A public tool, a team tool, and the outsider's private tool."""
    public = ToolFactory(upstream=UpstreamFactory(owner=outsider, visibility="public"))
    in_team = ToolFactory(upstream=UpstreamFactory(owner=owner, team=team, visibility="team"))
    private = ToolFactory(upstream=UpstreamFactory(owner=outsider, visibility="private"))
    return {"public": public, "team": in_team, "private": private}


def _seen(raw: str) -> set[int]:
    principal = credential_check(raw).principal
    return set(Tool.objects.visible_to(principal, VIEW).values_list("pk", flat=True))


def test_non_admin_token_without_team_scope_sees_public_only(owner, shelves):
    assert _seen(token_create(user=owner, name="x", teams=None)[1]) == {shelves["public"].pk}


def test_token_with_empty_teams_sees_public_only(owner, shelves):
    assert _seen(token_create(user=owner, name="x", teams=[])[1]) == {shelves["public"].pk}


def test_token_with_teams_sees_those_teams_and_public(owner, team, shelves):
    assert _seen(token_create(user=owner, name="x", teams=[team.pk])[1]) == {shelves["public"].pk, shelves["team"].pk}


def test_admin_token_without_team_scope_is_unrestricted(admin_user, shelves):
    assert _seen(token_create(user=admin_user, name="x", teams=None)[1]) == {tool.pk for tool in shelves.values()}


def test_admin_token_with_teams_is_restricted_to_them(admin_user, team, shelves):
    assert _seen(token_create(user=admin_user, name="x", teams=[team.pk])[1]) == {
        shelves["public"].pk, shelves["team"].pk}


def test_default_token_claims_the_users_teams_and_personal_objects(owner, team):
    mine = ToolFactory(upstream=UpstreamFactory(owner=owner))
    assert mine.pk in _seen(token_create(user=owner, name="x")[1])


# --- IP ranges, windows, quotas -------------------------------------------------------------------------------------

def test_ip_range_admits_inside_and_refuses_outside(owner):
    inside = token_create(user=owner, name="in", ip_ranges=["127.0.0.0/8"])[1]
    outside = token_create(user=owner, name="out", ip_ranges=["10.0.0.0/8", "2001:db8::/32"])[1]
    assert _get(inside).status_code == 200
    response = _get(outside)
    assert response.status_code == 401 and response.json()["detail"] == "This token may not be used from this address."


def test_window_containing_now_admits(owner):
    now = datetime.now(dt_timezone.utc)
    window = {"start": f"{now - timedelta(hours=1):%H:%M}", "end": f"{now + timedelta(hours=1):%H:%M}"}
    assert _get(token_create(user=owner, name="x", time_windows=[window])[1]).status_code == 200


def test_window_on_other_weekdays_refuses(owner):
    today = datetime.now(dt_timezone.utc).weekday()
    window = {"start": "00:00", "end": "23:59", "days": [(today + 1) % 7]}
    response = _get(token_create(user=owner, name="x", time_windows=[window])[1])
    assert response.status_code == 401 and "at this time" in response.json()["detail"]


def test_window_over_midnight_belongs_to_the_day_it_starts():
    friday_night = Window(start=time(22, 0), end=time(6, 0), days=frozenset({4}))
    assert friday_night.contains(datetime(2026, 11, 20, 23, 0))  # Friday 23:00
    assert friday_night.contains(datetime(2026, 11, 21, 5, 59))  # Saturday 05:59, still Friday's window
    assert not friday_night.contains(datetime(2026, 11, 21, 23, 0))  # Saturday night
    assert not friday_night.contains(datetime(2026, 11, 20, 12, 0))


def test_quota_counts_calls_and_refuses_the_next(owner):
    raw = token_create(user=owner, name="x", quota_calls=2, quota_period_seconds=3600)[1]
    assert [_get(raw).status_code for _ in range(3)] == [200, 200, 401]
    assert _get(raw).json()["detail"] == "This token's usage quota is exhausted."


# --- usage records --------------------------------------------------------------------------------------------------

def test_every_api_use_is_recorded(owner):
    token, raw = token_create(user=owner, name="x", ip_ranges=["127.0.0.0/8"])
    _get(raw, HTTP_USER_AGENT="curl/8")
    _get(raw, "/api/v1/tools/999999/")
    rows = list(TokenUsage.objects.filter(token=token).order_by("created_at"))
    assert [(row.method, row.endpoint, row.outcome, row.status) for row in rows] == [
        ("GET", ME, "allowed", 200), ("GET", "/api/v1/tools/999999/", "blocked", 404)]
    assert (rows[0].ip, rows[0].user_agent) == ("127.0.0.1", "curl/8")
    assert rows[0].latency_ms >= 0


def test_blocked_api_use_is_recorded_with_its_reason(owner):
    token, raw = token_create(user=owner, name="x", ip_ranges=["10.0.0.0/8"])
    _get(raw)
    row = TokenUsage.objects.get(token=token)
    assert (row.outcome, row.reason, row.status) == ("blocked", "This token may not be used from this address.", 401)


async def test_usage_buffer_writes_in_batches_and_never_drops(transactional_db, owner):
    from asgiref.sync import sync_to_async

    buffer = UsageBuffer(max_entries=2)
    for index in range(5):
        await buffer.submit(UsageEntry(method="tools/call", outcome="allowed", endpoint=f"tool{index}"))
    assert len(buffer) == 1  # two full batches went to the database before the buffer took more
    assert await sync_to_async(TokenUsage.objects.count)() == 4
    await buffer.flush()
    assert await sync_to_async(TokenUsage.objects.count)() == 5


# --- MCP: the client address reaches the data plane ----------------------------------------------------------------

async def _mcp_status(raw: str, client: tuple[str, int]) -> int:
    return await _mcp_status_headers([(b"authorization", f"Bearer {raw}".encode())], client)


async def test_mcp_ip_scope_uses_the_connections_address(transactional_db, owner):
    from asgiref.sync import sync_to_async

    raw = (await sync_to_async(token_create)(user=owner, name="office", ip_ranges=["192.0.2.0/24"]))[1]
    assert await _mcp_status(raw, ("192.0.2.7", 50000)) == 200
    assert await _mcp_status(raw, ("198.51.100.7", 50000)) == 401


# --- trusted proxies ------------------------------------------------------------------------------------------------

@override_settings(TRUST_PROXY_AUTH=True, TRUSTED_PROXY_ADDRESSES=["10.0.0.0/8"])
def test_proxy_user_header_is_honoured_only_from_a_trusted_proxy(owner):
    header = {"HTTP_X_AUTHENTICATED_USER": owner.email}
    assert APIClient().get(ME, REMOTE_ADDR="10.1.2.3", **header).json()["email"] == owner.email
    assert APIClient().get(ME, REMOTE_ADDR="192.0.2.1", **header).status_code == 401


@override_settings(TRUSTED_PROXY_ADDRESSES=["10.0.0.0/8"])
def test_forwarded_address_is_believed_only_from_a_trusted_proxy(owner):
    raw = token_create(user=owner, name="x", ip_ranges=["192.0.2.0/24"])[1]
    forwarded = {"HTTP_X_FORWARDED_FOR": "192.0.2.9"}
    assert _get(raw, REMOTE_ADDR="10.1.2.3", **forwarded).status_code == 200
    assert _get(raw, REMOTE_ADDR="198.51.100.1", **forwarded).status_code == 401


def test_proxy_user_header_is_ignored_when_proxy_auth_is_off(owner):
    response = APIClient().get(ME, REMOTE_ADDR="10.1.2.3", HTTP_X_AUTHENTICATED_USER=owner.email)
    assert response.status_code == 401


# --- forged tokens and constant-time comparison ---------------------------------------------------------------------

def test_forged_prefix_is_refused(owner):
    token, raw = token_create(user=owner, name="x")
    forged = [
        "gth_" + "a" * 60,                                # well-formed, unknown lookup
        raw[:12] + "x" * (len(raw) - 12),                 # right lookup, wrong secret
        "gth_" + raw[4:12].upper() + raw[12:],            # lookup outside the alphabet
        "GTH_" + raw[4:],                                 # wrong prefix case
        "gth_short",
        "eyJhbGciOiJub25lIn0.e30.",                       # looks like a JWT, is not one
    ]
    for value in forged:
        assert _get(value).status_code == 401, value


def test_digest_comparison_is_constant_time(owner, monkeypatch):
    token, raw = token_create(user=owner, name="x")
    calls = []
    real = token_secrets.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(token_secrets.hmac, "compare_digest", spy)
    assert _get(raw[:12] + "y" * (len(raw) - 12)).status_code == 401
    assert _get(raw).status_code == 200
    assert len(calls) == 2 and calls[1][1] == token.digest


def test_team_viewer_token_cannot_get_tools_execute(team):
    from tests.factories import UserFactory

    viewer = UserFactory(email="v@example.com")
    MembershipFactory(user=viewer, team=team, role=Membership.Role.VIEWER)
    with pytest.raises(TokenError):
        token_create(user=viewer, name="x", team=team, permissions=["tools.execute"])


async def test_mcp_honours_the_proxy_user_header_only_from_a_trusted_proxy(transactional_db, owner, settings):
    settings.TRUST_PROXY_AUTH = True
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8"]
    header = (b"x-authenticated-user", owner.email.encode())
    assert await _mcp_status_headers([header], ("10.9.9.9", 1)) == 200
    assert await _mcp_status_headers([header], ("192.0.2.9", 1)) == 401


async def _mcp_status_headers(extra: list, client: tuple[str, int]) -> int:
    from config.asgi import application

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}).encode()
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/mcp",
             "raw_path": b"/mcp", "root_path": "", "query_string": b"", "client": client,
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"accept", b"application/json, text/event-stream"), *extra]}
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return start["status"]


def test_usage_of_a_token_deleted_before_the_flush_is_kept_without_the_link(owner):
    from tokens.services import token_usage_record_many

    token, _ = token_create(user=owner, name="x")
    entry = UsageEntry(method="tools/call", outcome="allowed", token_id=token.pk, user_id=owner.pk)
    token.delete()
    token_usage_record_many(entries=[entry])
    row = TokenUsage.objects.get()
    assert (row.token_id, row.user_id) == (None, owner.pk)


def test_start_up_check_refuses_bad_trusted_proxy_settings(settings):
    from tokens.checks import trusted_proxies

    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8", "not-a-range"]
    assert [error.id for error in trusted_proxies(None)] == ["tokens.E002"]
    settings.TRUSTED_PROXY_ADDRESSES = []
    settings.TRUST_PROXY_AUTH = True
    assert [error.id for error in trusted_proxies(None)] == ["tokens.E002"]


async def test_usage_record_mcp_names_the_token_client_and_tool(transactional_db, owner):
    from asgiref.sync import sync_to_async

    from tokens.client import Client, current_client
    from tokens.usage import usage_flush, usage_record_mcp

    token, raw = await sync_to_async(token_create)(user=owner, name="x")
    principal = (await sync_to_async(credential_check)(raw)).principal
    current_client.set(Client("192.0.2.5", "inspector/1"))
    await usage_record_mcp(principal, method="tools/call", name="fixture__echo", latency_ms=12)
    await usage_flush()
    row = await TokenUsage.objects.aget(token_id=token.pk)
    assert (row.method, row.endpoint, row.ip, row.user_agent, row.latency_ms, row.outcome) == (
        "tools/call", "fixture__echo", "192.0.2.5", "inspector/1", 12, "allowed")


def test_token_cannot_put_an_upstream_into_a_team_outside_its_claim(owner, team):
    raw = token_create(user=owner, name="x", teams=[])[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.post("/api/v1/servers/", {"slug": "claimed", "team": team.pk, "visibility": "team"},
                           format="json")
    assert response.status_code == 400 and "Unknown team" in response.content.decode()
