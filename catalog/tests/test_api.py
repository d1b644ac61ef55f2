"""/api/v1/ catalog endpoints: scoping by visibility for three actors, write-only credentials, discovery, servers."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from catalog.credentials import credentials_headers
from catalog.models import Prompt, Resource, Tool, Upstream, VirtualServer
from teams.models import Membership
from tests.factories import (
    MembershipFactory,
    PromptFactory,
    ResourceFactory,
    ToolFactory,
    UpstreamFactory,
    UserFactory,
    VirtualServerFactory,
)
from tests.processes import free_port
from tokens.services import token_create

pytestmark = pytest.mark.django_db

API = "/api/v1"
UPSTREAM_SECRET = "upstream-bearer-s3cret-value"
FIXTURE_TOOLS = {"fixture__echo", "fixture__add", "fixture__slow", "fixture__fail"}


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def team_admin(team):
    user = UserFactory(email="team-admin@example.com")
    MembershipFactory(user=user, team=team, role=Membership.Role.ADMIN)
    return user


# --- scoping: one table of kinds, the same rules for each ---------------------------------------------------------


def _upstream(owner, team, visibility):
    return UpstreamFactory(owner=owner, team=team, visibility=visibility)


def _tool(owner, team, visibility):
    return ToolFactory(upstream=_upstream(owner, team, visibility))


def _prompt(owner, team, visibility):
    return PromptFactory(upstream=_upstream(owner, team, visibility))


def _resource(owner, team, visibility):
    return ResourceFactory(upstream=_upstream(owner, team, visibility))


def _server(owner, team, visibility):
    return VirtualServerFactory(owner=owner, team=team, visibility=visibility)


KINDS = {
    "upstreams": (_upstream, {"enabled": False}, lambda obj: obj.enabled is False),
    "tools": (_tool, {"enabled": False}, lambda obj: obj.enabled is False),
    "prompts": (_prompt, {"enabled": False}, lambda obj: obj.enabled is False),
    "resources": (_resource, {"enabled": False}, lambda obj: obj.enabled is False),
    "servers": (_server, {"description": "changed"}, lambda obj: obj.description == "changed"),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request):
    return request.param


def _make(kind, owner, team, visibility):
    return KINDS[kind][0](owner, team if visibility == "team" else None, visibility)


def _listed_ids(user, kind) -> list[int]:
    response = client_for(user).get(f"{API}/{kind}/")
    assert response.status_code == 200
    return [item["id"] for item in response.json()["results"]]


def test_owner_lists_own_private_object(kind, owner, team):
    obj = _make(kind, owner, team, "private")
    assert _listed_ids(owner, kind) == [obj.pk]


def test_owner_retrieves_own_private_object(kind, owner, team):
    obj = _make(kind, owner, team, "private")
    assert client_for(owner).get(f"{API}/{kind}/{obj.pk}/").status_code == 200


@pytest.mark.parametrize("actor", ["teammate", "outsider"])
def test_others_do_not_list_a_private_object(kind, owner, team, actor, request):
    _make(kind, owner, team, "private")
    assert _listed_ids(request.getfixturevalue(actor), kind) == []


@pytest.mark.parametrize("actor", ["teammate", "outsider"])
def test_others_get_404_not_403_for_a_private_object(kind, owner, team, actor, request):
    obj = _make(kind, owner, team, "private")
    assert client_for(request.getfixturevalue(actor)).get(f"{API}/{kind}/{obj.pk}/").status_code == 404


def test_teammate_lists_and_views_a_team_visible_object(kind, owner, team, teammate):
    obj = _make(kind, owner, team, "team")
    assert _listed_ids(teammate, kind) == [obj.pk]
    assert client_for(teammate).get(f"{API}/{kind}/{obj.pk}/").status_code == 200


def test_outsider_gets_404_for_a_team_visible_object(kind, owner, team, outsider):
    obj = _make(kind, owner, team, "team")
    assert client_for(outsider).get(f"{API}/{kind}/{obj.pk}/").status_code == 404


def test_outsider_lists_and_views_a_public_object(kind, owner, team, outsider):
    obj = _make(kind, owner, team, "public")
    assert _listed_ids(outsider, kind) == [obj.pk]
    assert client_for(outsider).get(f"{API}/{kind}/{obj.pk}/").status_code == 200


def test_owner_may_patch_own_object(kind, owner, team):
    obj = _make(kind, owner, team, "private")
    _, payload, changed = KINDS[kind]
    assert client_for(owner).patch(f"{API}/{kind}/{obj.pk}/", payload, format="json").status_code == 200
    obj.refresh_from_db()
    assert changed(obj)


def test_teammate_patch_of_a_team_visible_object_is_404(kind, owner, team, teammate):
    obj = _make(kind, owner, team, "team")
    _, payload, changed = KINDS[kind]
    assert client_for(teammate).patch(f"{API}/{kind}/{obj.pk}/", payload, format="json").status_code == 404
    obj.refresh_from_db()
    assert not changed(obj)


def test_outsider_patch_of_a_public_object_is_404(kind, owner, team, outsider):
    obj = _make(kind, owner, team, "public")
    _, payload, changed = KINDS[kind]
    assert client_for(outsider).patch(f"{API}/{kind}/{obj.pk}/", payload, format="json").status_code == 404
    obj.refresh_from_db()
    assert not changed(obj)


def test_team_admin_may_patch_a_team_object(kind, owner, team, team_admin):
    obj = _make(kind, owner, team, "team")
    _, payload, changed = KINDS[kind]
    assert client_for(team_admin).patch(f"{API}/{kind}/{obj.pk}/", payload, format="json").status_code == 200
    obj.refresh_from_db()
    assert changed(obj)


def test_anonymous_request_is_refused(kind):
    assert client_for(None).get(f"{API}/{kind}/").status_code in (401, 403)


def test_server_restricted_token_gets_403(kind, owner):
    _, raw = token_create(user=owner, name="mcp only", servers=[VirtualServerFactory(owner=owner)])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(f"{API}/{kind}/").status_code == 403


# --- upstreams against the real fixture process -------------------------------------------------------------------


@pytest.fixture
def registered(owner, upstream_process):
    """An upstream with bearer credentials created through the API: the 201 response."""
    response = client_for(owner).post(
        f"{API}/upstreams/",
        {
            "name": "fixture",
            "url": upstream_process.url,
            "auth_type": "bearer",
            "credentials": {"token": UPSTREAM_SECRET},
            "timeout_seconds": 10,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response


def test_create_upstream_returns_201_with_discovered_tools(registered):
    body = registered.json()
    assert body["slug"] == "fixture"
    assert body["discovery"]["ok"] is True
    assert set(body["discovery"]["tools"]) == FIXTURE_TOOLS
    assert body["discovery_status"] == "ok"


def test_create_upstream_fills_the_catalog(registered):
    upstream = Upstream.objects.get(pk=registered.json()["id"])
    assert set(Tool.objects.filter(upstream=upstream).values_list("exposed_name", flat=True)) == FIXTURE_TOOLS
    prompts = Prompt.objects.filter(upstream=upstream).values_list("exposed_name", flat=True)
    assert list(prompts) == ["fixture__summarize"]
    assert list(Resource.objects.filter(upstream=upstream).values_list("uri", flat=True)) == ["fixture://greeting"]


def test_create_response_never_contains_the_credentials(registered):
    assert UPSTREAM_SECRET not in registered.content.decode()
    assert "credentials" not in registered.json()
    assert registered.json()["has_credentials"] is True


def test_retrieve_never_contains_the_credentials(registered, owner):
    response = client_for(owner).get(f"{API}/upstreams/{registered.json()['id']}/")
    assert response.status_code == 200
    assert UPSTREAM_SECRET not in response.content.decode()
    assert "credentials" not in response.json()


def test_list_never_contains_the_credentials(registered, owner):
    response = client_for(owner).get(f"{API}/upstreams/")
    assert response.status_code == 200
    assert UPSTREAM_SECRET not in response.content.decode()


def test_patch_replaces_credentials_without_returning_them(registered, owner):
    upstream_id = registered.json()["id"]
    response = client_for(owner).patch(
        f"{API}/upstreams/{upstream_id}/", {"credentials": {"token": "replacement-s3cret"}}, format="json"
    )
    assert response.status_code == 200
    assert "replacement-s3cret" not in response.content.decode()
    upstream = Upstream.objects.get(pk=upstream_id)
    assert credentials_headers(upstream.auth_type, upstream.credentials_sealed) == (
        ("Authorization", "Bearer replacement-s3cret"),
    )


def test_discover_action_reports_the_tools(registered, owner):
    response = client_for(owner).post(f"{API}/upstreams/{registered.json()['id']}/discover/")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert set(response.json()["tools"]) == FIXTURE_TOOLS


def test_teammate_discover_of_a_team_upstream_is_404(registered, owner, team, teammate):
    Upstream.objects.filter(pk=registered.json()["id"]).update(team=team, visibility="team")
    response = client_for(teammate).post(f"{API}/upstreams/{registered.json()['id']}/discover/")
    assert response.status_code == 404


def test_create_unreachable_upstream_records_failed_discovery(owner):
    url = f"http://127.0.0.1:{free_port()}/mcp"
    response = client_for(owner).post(
        f"{API}/upstreams/", {"name": "gone", "url": url, "timeout_seconds": 2}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["discovery"]["ok"] is False
    assert response.json()["discovery_status"] == "failed"
    assert response.json()["discovery_error"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param({"url": "ftp://127.0.0.1/mcp"}, "http or https", id="ftp-url"),
        pytest.param({"url": "not a url"}, "url", id="malformed-url"),
        pytest.param({"url": "http://user:secret@127.0.0.1:9/mcp"}, "not in the URL", id="credentials-in-url"),
        pytest.param({"visibility": "galaxy"}, "visibility", id="unknown-visibility"),
        pytest.param({"visibility": "team"}, "Team visibility needs a team", id="team-without-team"),
        pytest.param({"transport": "carrier-pigeon"}, "transport", id="unknown-transport"),
        pytest.param({"timeout_seconds": 0}, "timeout", id="zero-timeout"),
        pytest.param({"auth_type": "bearer", "credentials": {}}, "token", id="bearer-without-token"),
        pytest.param({"auth_type": "basic", "credentials": {"username": "a:b", "password": "x"}}, "username",
                     id="basic-username-with-colon"),
    ],
)
def test_create_upstream_with_bad_input_is_400_with_a_reason(owner, payload, reason):
    body = {"name": "bad", "url": "http://127.0.0.1:9/mcp", **payload}
    response = client_for(owner).post(f"{API}/upstreams/", body, format="json")
    assert response.status_code == 400
    assert reason.lower() in response.content.decode().lower()
    assert not Upstream.objects.exists()


def test_create_upstream_in_a_team_the_user_is_not_in_is_400(outsider, team):
    response = client_for(outsider).post(
        f"{API}/upstreams/",
        {"name": "sneaky", "url": "http://127.0.0.1:9/mcp", "team": team.pk, "visibility": "team"},
        format="json",
    )
    assert response.status_code == 400
    assert "team" in response.json()


def test_create_upstream_with_a_taken_name_is_400(owner):
    UpstreamFactory(name="taken", slug="taken")
    response = client_for(owner).post(f"{API}/upstreams/", {"name": "taken", "url": "http://127.0.0.1:9/mcp"},
                                      format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json()["name"])


def test_create_upstream_whose_derived_slug_is_taken_is_400_naming_the_slug(owner):
    UpstreamFactory(name="first", slug="shared_slug")
    response = client_for(owner).post(f"{API}/upstreams/", {"name": "shared slug", "url": "http://127.0.0.1:9/mcp"},
                                      format="json")
    assert response.status_code == 400
    assert "shared_slug" in response.json()["detail"]


def test_patch_upstream_to_an_ftp_url_is_400(owner):
    upstream = UpstreamFactory(owner=owner)
    response = client_for(owner).patch(f"{API}/upstreams/{upstream.pk}/", {"url": "ftp://example.com/mcp"},
                                       format="json")
    assert response.status_code == 400
    upstream.refresh_from_db()
    assert upstream.url == "http://127.0.0.1:9/mcp"


# --- tools ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def two_tools(owner):
    alpha = UpstreamFactory(owner=owner, name="Alpha", slug="alpha")
    beta = UpstreamFactory(owner=owner, name="Beta", slug="beta")
    return ToolFactory(upstream=alpha, original_name="echo"), ToolFactory(upstream=beta, original_name="add")


def test_patch_tool_enabled(two_tools, owner):
    echo, _ = two_tools
    response = client_for(owner).patch(f"{API}/tools/{echo.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200
    assert response.json()["enabled"] is False


def test_patch_tool_visibility_with_team(two_tools, owner, team):
    echo, _ = two_tools
    response = client_for(owner).patch(
        f"{API}/tools/{echo.pk}/", {"visibility": "team", "team": team.pk}, format="json"
    )
    assert response.status_code == 200
    echo.refresh_from_db()
    assert (echo.visibility, echo.team_id) == ("team", team.pk)


def test_patch_tool_team_visibility_without_team_is_400(two_tools, owner):
    echo, _ = two_tools
    response = client_for(owner).patch(f"{API}/tools/{echo.pk}/", {"visibility": "team"}, format="json")
    assert response.status_code == 400
    assert "team" in response.json()["detail"].lower()


def test_patch_tool_unknown_visibility_is_400(two_tools, owner):
    echo, _ = two_tools
    response = client_for(owner).patch(f"{API}/tools/{echo.pk}/", {"visibility": "galaxy"}, format="json")
    assert response.status_code == 400
    assert "visibility" in response.json()


def test_patch_tool_exposed_name(two_tools, owner):
    echo, _ = two_tools
    response = client_for(owner).patch(f"{API}/tools/{echo.pk}/", {"exposed_name": "say_it"}, format="json")
    assert response.status_code == 200
    echo.refresh_from_db()
    assert echo.exposed_name == "say_it"


def test_patch_tool_invalid_exposed_name_is_400(two_tools, owner):
    echo, _ = two_tools
    response = client_for(owner).patch(f"{API}/tools/{echo.pk}/", {"exposed_name": "no spaces!"}, format="json")
    assert response.status_code == 400


def test_patch_tool_clashing_exposed_name_is_400_naming_both_sides(two_tools, owner):
    echo, add = two_tools
    response = client_for(owner).patch(
        f"{API}/tools/{echo.pk}/", {"exposed_name": add.exposed_name}, format="json"
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert all(part in detail for part in ("'echo'", "'Alpha'", "'add'", "'Beta'"))


def test_patch_prompt_clashing_exposed_name_is_400_naming_both_sides(owner):
    alpha = UpstreamFactory(owner=owner, name="Alpha", slug="alpha")
    beta = UpstreamFactory(owner=owner, name="Beta", slug="beta")
    summarize = PromptFactory(upstream=alpha, original_name="summarize")
    draft = PromptFactory(upstream=beta, original_name="draft")
    response = client_for(owner).patch(
        f"{API}/prompts/{summarize.pk}/", {"exposed_name": draft.exposed_name}, format="json"
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert all(part in detail for part in ("'summarize'", "'Alpha'", "'draft'", "'Beta'"))


def test_tool_shows_its_input_schema_as_json(two_tools, owner):
    echo, _ = two_tools
    assert client_for(owner).get(f"{API}/tools/{echo.pk}/").json()["input_schema"] == {"type": "object"}


# --- virtual servers ---------------------------------------------------------------------------------------------


def test_create_server_with_tools(two_tools, owner):
    echo, add = two_tools
    response = client_for(owner).post(
        f"{API}/servers/",
        {
            "slug": "demo",
            "name": "Demo",
            "tools": [{"tool": echo.pk, "alias": ""}, {"tool": add.pk, "alias": "plus"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["mcp_path"] == "/servers/demo/mcp"
    assert sorted(entry["name"] for entry in response.json()["tools"]) == ["alpha__echo", "plus"]


def test_retrieve_server_lists_its_tools(two_tools, owner):
    echo, _ = two_tools
    client = client_for(owner)
    created = client.post(
        f"{API}/servers/", {"slug": "demo", "name": "Demo", "tools": [{"tool": echo.pk, "alias": ""}]}, format="json"
    )
    response = client.get(f"{API}/servers/{created.json()['id']}/")
    assert response.json()["tools"] == [{"tool": echo.pk, "alias": "", "name": "alpha__echo"}]


def test_list_servers_shows_their_tools(two_tools, owner):
    echo, _ = two_tools
    client = client_for(owner)
    client.post(f"{API}/servers/", {"slug": "demo", "name": "Demo", "tools": [{"tool": echo.pk, "alias": "say"}]},
                format="json")
    response = client.get(f"{API}/servers/")
    assert response.status_code == 200
    assert response.json()["results"][0]["tools"] == [{"tool": echo.pk, "alias": "say", "name": "say"}]


def test_patch_server_replaces_its_tools(two_tools, owner):
    echo, add = two_tools
    server = VirtualServerFactory(owner=owner)
    response = client_for(owner).patch(
        f"{API}/servers/{server.pk}/", {"tools": [{"tool": add.pk, "alias": "plus"}]}, format="json"
    )
    assert response.status_code == 200
    assert [entry.alias for entry in server.server_tools.all()] == ["plus"]


def test_capture_traffic_is_off_by_default_and_switched_on_by_patch(owner):
    server = VirtualServerFactory(owner=owner)
    client = client_for(owner)
    assert client.get(f"{API}/servers/{server.pk}/").json()["capture_traffic"] is False
    response = client.patch(f"{API}/servers/{server.pk}/", {"capture_traffic": True}, format="json")
    assert response.status_code == 200 and response.json()["capture_traffic"] is True
    server.refresh_from_db()
    assert server.capture_traffic is True


def test_delete_server(owner):
    server = VirtualServerFactory(owner=owner)
    assert client_for(owner).delete(f"{API}/servers/{server.pk}/").status_code == 204
    assert not VirtualServer.objects.filter(pk=server.pk).exists()


def test_outsider_delete_of_a_public_server_is_404(owner, outsider):
    server = VirtualServerFactory(owner=owner, visibility="public")
    assert client_for(outsider).delete(f"{API}/servers/{server.pk}/").status_code == 404
    assert VirtualServer.objects.filter(pk=server.pk).exists()


def test_name_clash_inside_a_server_is_400_naming_both_tools(two_tools, owner):
    echo, add = two_tools
    response = client_for(owner).post(
        f"{API}/servers/",
        {
            "slug": "clash",
            "name": "Clash",
            "tools": [{"tool": echo.pk, "alias": "same"}, {"tool": add.pk, "alias": "same"}],
        },
        format="json",
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert all(part in detail for part in ("'same'", "'echo'", "'Alpha'", "'add'", "'Beta'"))
    assert not VirtualServer.objects.filter(slug="clash").exists()


def test_server_with_a_tool_the_user_may_not_use_is_400(two_tools, outsider):
    echo, _ = two_tools
    response = client_for(outsider).post(
        f"{API}/servers/", {"slug": "mine", "name": "Mine", "tools": [{"tool": echo.pk, "alias": ""}]}, format="json"
    )
    assert response.status_code == 400
    assert str(echo.pk) in str(response.json()["tools"])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param({"slug": "Not A Slug"}, "slug", id="bad-slug"),
        pytest.param({"slug": "ok", "visibility": "galaxy"}, "visibility", id="unknown-visibility"),
        pytest.param({"slug": "ok", "visibility": "team"}, "Team visibility needs a team", id="team-without-team"),
        pytest.param({"slug": "ok", "tools": [{"tool": 999999, "alias": ""}]}, "999999", id="unknown-tool"),
        pytest.param({"slug": "ok", "tools": [{"alias": "x"}]}, "tool", id="tool-missing"),
    ],
)
def test_create_server_with_bad_input_is_400_with_a_reason(owner, payload, reason):
    response = client_for(owner).post(f"{API}/servers/", {"name": "Server", **payload}, format="json")
    assert response.status_code == 400
    assert reason.lower() in response.content.decode().lower()


def test_create_server_with_a_taken_slug_is_400(owner):
    VirtualServerFactory(slug="taken")
    response = client_for(owner).post(f"{API}/servers/", {"slug": "taken", "name": "Taken"}, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json()["slug"])


# --- schema and docs ---------------------------------------------------------------------------------------------


def test_schema_is_an_openapi_document(owner):
    response = client_for(owner).get(f"{API}/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/upstreams/" in document["paths"]


def test_docs_render_for_an_authenticated_user(owner):
    client = APIClient()
    client.force_login(owner)
    response = client.get(f"{API}/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.parametrize("path", ["schema/", "docs/"])
def test_schema_and_docs_refuse_anonymous_requests(path):
    assert APIClient().get(f"{API}/{path}").status_code in (401, 403)


def test_server_composes_prompts_and_resources_with_aliases(owner):
    upstream = UpstreamFactory(owner=owner, slug="docs")
    prompt, resource = PromptFactory(upstream=upstream, original_name="summarize"), ResourceFactory(upstream=upstream)
    response = client_for(owner).post(f"{API}/servers/", {
        "slug": "composed",
        "prompts": [{"prompt": prompt.pk, "alias": "summary"}],
        "resources": [{"resource": resource.pk, "alias": "Team handbook"}],
    }, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["prompts"] == [{"prompt": prompt.pk, "alias": "summary", "name": "summary"}]
    assert body["resources"] == [{"resource": resource.pk, "alias": "Team handbook", "name": resource.uri}]


def test_two_prompts_under_one_alias_are_refused_naming_both(owner):
    first = PromptFactory(upstream=UpstreamFactory(owner=owner, name="Alpha"), original_name="hello")
    second = PromptFactory(upstream=UpstreamFactory(owner=owner, name="Beta"), original_name="hello")
    response = client_for(owner).post(f"{API}/servers/", {
        "slug": "clashing",
        "prompts": [{"prompt": first.pk, "alias": "greet"}, {"prompt": second.pk, "alias": "greet"}],
    }, format="json")
    assert response.status_code == 400
    assert "'Alpha'" in response.content.decode() and "'Beta'" in response.content.decode()


def test_two_resources_with_one_uri_are_refused(owner):
    first = ResourceFactory(upstream=UpstreamFactory(owner=owner), uri="file:///shared.txt")
    second = ResourceFactory(upstream=UpstreamFactory(owner=owner), uri="file:///shared.txt")
    response = client_for(owner).post(f"{API}/servers/", {
        "slug": "same-uri",
        "resources": [{"resource": first.pk}, {"resource": second.pk}],
    }, format="json")
    assert response.status_code == 400
    assert "file:///shared.txt" in response.content.decode()


def test_composing_another_users_private_prompt_is_unknown(owner, outsider):
    private = PromptFactory(upstream=UpstreamFactory(owner=outsider))
    response = client_for(owner).post(
        f"{API}/servers/", {"slug": "grabby", "prompts": [{"prompt": private.pk}]}, format="json"
    )
    assert response.status_code == 400
    assert f"Unknown prompt ids: [{private.pk}]" in response.content.decode()


def test_patch_sets_the_header_passthrough_allowlist(registered, owner):
    url = f"{API}/upstreams/{registered.json()['id']}/"
    response = client_for(owner).patch(url, {"header_passthrough": ["X-Tenant"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["header_passthrough"] == ["x-tenant"]
    refused = client_for(owner).patch(url, {"header_passthrough": ["Cookie"]}, format="json")
    assert refused.status_code == 400 and "never passed" in refused.content.decode()
