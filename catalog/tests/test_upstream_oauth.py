"""The upstream OAuth vault without a network: settings are validated and write-only, connections are sealed,
listed and deleted only by their own user, rotated with the key ring, and never serve another user."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from catalog import services
from catalog.credentials import connection_tokens_open, connection_tokens_seal
from catalog.errors import CatalogError
from catalog.models import Tool, Upstream, UpstreamConnection
from catalog.selectors import snapshot_build, upstream_target
from catalog.tests.test_api import client_for
from teams.selectors import principal_for_user

pytestmark = pytest.mark.django_db

SECRET = "client-secret-that-must-stay-hidden"
ACCESS = "access-token-that-must-stay-hidden"


def _per_user(owner, name="vaulted", **extra) -> Upstream:
    return services.upstream_create(
        owner=owner, name=name, url="https://mcp.example.com/mcp", auth_type="oauth_user",
        credentials={"client_id": "gatehouse", "client_secret": SECRET, **extra}, visibility="public",
    )


def _connect(user, upstream) -> UpstreamConnection:
    return UpstreamConnection.objects.create(
        user=user, upstream=upstream, tokens_sealed=connection_tokens_seal(ACCESS, "refresh-token"),
        issuer="https://as.example.com", token_endpoint="https://as.example.com/token", client_id="gatehouse",
        resource="https://mcp.example.com/mcp",
    )


def test_client_credentials_need_a_client_and_a_token_endpoint_or_issuer(owner):
    with pytest.raises(CatalogError, match="client_id"):
        services.upstream_create(owner=owner, name="cc", url="https://mcp.example.com/mcp",
                                 auth_type="oauth_client_credentials", credentials={"issuer": "https://as.example.com"})
    with pytest.raises(CatalogError, match="token_endpoint"):
        services.upstream_create(owner=owner, name="cc", url="https://mcp.example.com/mcp",
                                 auth_type="oauth_client_credentials",
                                 credentials={"client_id": "a", "client_secret": "b"})


def test_oauth_is_refused_for_stdio_upstreams(owner):
    with pytest.raises(CatalogError, match="OAuth"):
        services.upstream_create(owner=owner, name="local", transport="stdio", command="/bin/true",
                                 auth_type="oauth_user")


def test_the_api_accepts_oauth_settings_and_never_returns_the_secret(owner):
    client = client_for(owner)
    response = client.post("/api/v1/upstreams/", {
        "name": "api-oauth", "url": "https://mcp.example.com/mcp", "auth_type": "oauth_client_credentials",
        "credentials": {"client_id": "svc", "client_secret": SECRET, "token_endpoint": "https://as.example.com/token"},
    }, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["auth_type"] == "oauth_client_credentials" and response.json()["has_credentials"]
    listed = client.get(f"/api/v1/upstreams/{response.json()['id']}/").content.decode()
    assert SECRET not in listed and SECRET not in response.content.decode()
    upstream = Upstream.objects.get(name="api-oauth")
    assert SECRET not in upstream.credentials_sealed
    assert SECRET not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))


def test_each_user_gets_a_target_of_their_own(owner, outsider):
    upstream = _per_user(owner)
    mine = _connect(owner, upstream)
    owner_target = upstream_target(upstream, user_id=owner.pk)
    outsider_target = upstream_target(upstream, user_id=outsider.pk)
    assert owner_target.oauth_connection_id == mine.pk and outsider_target.oauth_connection_id is None
    assert owner_target.pool_key != outsider_target.pool_key  # an upstream session never serves two users
    # Discovery and health probes act for the owner.
    assert upstream_target(upstream).oauth_user_id == owner.pk


def test_an_anonymous_caller_never_acts_with_the_owners_connection(owner):
    upstream = _per_user(owner)
    _connect(owner, upstream)
    anonymous = dataclasses.replace(principal_for_user(owner), anonymous=True)
    Tool.objects.create(upstream=upstream, original_name="whoami", exposed_name="vaulted__whoami",
                        owner=owner, visibility="public")
    snapshot = snapshot_build(principal=anonymous, server_slug="")
    target = snapshot.tools["vaulted__whoami"].upstream
    assert target.oauth_user_id is None and target.oauth_connection_id is None


def test_users_list_and_delete_only_their_own_connections(owner, outsider):
    upstream = _per_user(owner)
    mine, theirs = _connect(owner, upstream), _connect(outsider, upstream)
    listed = client_for(owner).get("/api/v1/me/upstream-connections/")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [mine.pk]
    assert ACCESS not in listed.content.decode() and "refresh-token" not in listed.content.decode()
    assert client_for(owner).delete(f"/api/v1/me/upstream-connections/{theirs.pk}/").status_code == 404
    assert client_for(owner).delete(f"/api/v1/me/upstream-connections/{mine.pk}/").status_code == 204
    assert list(UpstreamConnection.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert AuditEvent.objects.filter(action="upstream.disconnect").count() == 1


def test_rotation_reseals_connection_tokens(settings, owner):
    settings.GATEHOUSE_ENCRYPTION_KEYS = {"old": os.urandom(32)}
    connection = _connect(owner, _per_user(owner))
    settings.GATEHOUSE_ENCRYPTION_KEYS = {"new": os.urandom(32), **settings.GATEHOUSE_ENCRYPTION_KEYS}
    call_command("rotate_encryption_key")
    connection.refresh_from_db()
    assert connection.tokens_sealed.startswith("new:")
    settings.GATEHOUSE_ENCRYPTION_KEYS = {"new": settings.GATEHOUSE_ENCRYPTION_KEYS["new"]}
    assert connection_tokens_open(connection.tokens_sealed) == (ACCESS, "refresh-token")


def test_the_connections_page_shows_only_the_users_own(client, owner, outsider):
    upstream = _per_user(owner)
    _connect(outsider, upstream)
    client.force_login(owner)
    page = client.get("/accounts/upstreams/").content.decode()
    assert "Connect vaulted" in page and "Disconnect" not in page
    assert ACCESS not in page
    # Disconnecting someone else's connection is unknown.
    assert client.post(f"/accounts/upstreams/{upstream.slug}/disconnect/").status_code == 404
    assert UpstreamConnection.objects.filter(user=outsider).exists()


def test_the_admin_stores_oauth_settings_write_only(admin_client, owner):
    form = {
        "name": "admin-oauth", "slug": "admin_oauth", "url": "https://mcp.example.com/mcp",
        "transport": "streamable_http", "auth_type": "oauth_user", "owner": owner.pk, "team": "",
        "visibility": "private", "enabled": "on", "timeout_seconds": "5", "session_binding": "pooled",
        "oauth_client_id": "gatehouse", "oauth_client_secret": SECRET, "oauth_scope": "tools",
        "oauth_issuer": "", "oauth_token_endpoint": "", "oauth_resource": "",
    }
    admin_client.post("/admin/catalog/upstream/add/", form)  # discovery fails (no network): the upstream is kept
    upstream = Upstream.objects.get(slug="admin_oauth")
    from catalog.credentials import oauth_settings_open

    assert oauth_settings_open(upstream.auth_type, upstream.credentials_sealed) == {
        "client_id": "gatehouse", "client_secret": SECRET, "scope": "tools",
    }
    page = admin_client.get(f"/admin/catalog/upstream/{upstream.pk}/change/").content.decode()
    assert SECRET not in page and upstream.credentials_sealed not in page


def test_connect_needs_a_signed_in_user_who_may_use_the_upstream(client, owner, outsider):
    private = services.upstream_create(
        owner=owner, name="private-oauth", url="https://mcp.example.com/mcp", auth_type="oauth_user",
    )
    response = client.get(f"/accounts/upstreams/{private.slug}/connect/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(owner)
    page = client.get(f"/accounts/upstreams/{private.slug}/connect/")
    assert page.status_code == 200 and b"<form method=\"post\">" in page.content
    client.force_login(outsider)
    assert client.get(f"/accounts/upstreams/{private.slug}/connect/").status_code == 404
    assert client.post(f"/accounts/upstreams/{private.slug}/connect/").status_code == 404


def test_a_callback_without_a_started_attempt_is_refused(client, owner):
    client.force_login(owner)
    response = client.get("/accounts/upstreams/oauth/callback/?code=abc&state=never-issued")
    assert response.status_code == 400 and b"state" in response.content
    assert not UpstreamConnection.objects.exists()


def test_platform_admins_see_and_revoke_connections_without_tokens(admin_client, owner):
    connection = _connect(owner, _per_user(owner))
    page = admin_client.get(f"/admin/catalog/upstreamconnection/{connection.pk}/change/").content.decode()
    assert page and ACCESS not in page and connection.tokens_sealed not in page
    response = admin_client.post(
        "/admin/catalog/upstreamconnection/", {"action": "revoke", "_selected_action": [connection.pk]}
    )
    assert response.status_code == 302
    assert not UpstreamConnection.objects.exists()
    assert AuditEvent.objects.filter(action="upstream.disconnect").exists()


def test_staff_who_are_not_platform_admins_do_not_see_connections(client, owner):
    _connect(owner, _per_user(owner))
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    assert client.get("/admin/catalog/upstreamconnection/").status_code == 403


def test_moving_an_upstream_drops_its_users_connections(owner, outsider):
    upstream = _per_user(owner)
    _connect(owner, upstream), _connect(outsider, upstream)
    services.upstream_update(upstream=upstream, actor=owner, timeout_seconds=9)
    assert UpstreamConnection.objects.count() == 2
    services.upstream_update(upstream=upstream, actor=owner, url="https://elsewhere.example.com/mcp")
    assert not UpstreamConnection.objects.exists()
    assert AuditEvent.objects.filter(action="upstream.update").order_by("-pk").first().data["connections_dropped"] == 2
