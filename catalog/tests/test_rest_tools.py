"""Defining REST tools: the rules a definition must pass, the commands, discovery and the audit trail."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from catalog import services
from catalog.errors import CatalogError
from catalog.models import RestEndpoint, Tool, Upstream
from catalog.selectors import snapshot_build
from teams.selectors import principal_for_user

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}}, "required": ["id"]}


@pytest.fixture
def api(owner, settings):
    settings.GATEHOUSE_REST_TOOLS = True
    return services.upstream_create(owner=owner, name="Items API", slug="items", url="https://api.example.com/v1",
                                    transport="rest")


def _define(api, **changes):
    definition = {"upstream": api, "name": "get_item", "path": "/items/{id}", "input_schema": SCHEMA, "actor": api.owner}
    return services.rest_tool_define(**{**definition, **changes})


def test_define_creates_prefixed_tool_with_endpoint(api):
    tool = _define(api, query=["q"], description="One item.")
    assert tool.exposed_name == "items__get_item"
    assert json.loads(tool.input_schema) == SCHEMA
    endpoint = RestEndpoint.objects.get(tool=tool)
    assert (endpoint.method, endpoint.path, endpoint.query) == ("GET", "/items/{id}", ["q"])
    event = AuditEvent.objects.filter(action="tool.rest_define").get()
    assert event.data["path"] == "/items/{id}" and event.data["created"] is True


def test_define_again_changes_the_same_tool(api):
    first = _define(api)
    second = _define(api, method="post", path="/items/{id}/touch", timeout_seconds=9)
    assert first.pk == second.pk and Tool.objects.filter(upstream=api).count() == 1
    endpoint = RestEndpoint.objects.get(tool=second)
    assert (endpoint.method, endpoint.path, endpoint.timeout_seconds) == ("POST", "/items/{id}/touch", 9)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "TRACE"}, "method must be one of"),
        ({"path": "items/{id}"}, "must start with '/'"),
        ({"path": "/items/{id}?x=1"}, "only path characters"),
        ({"path": "/items/{+id}"}, "only path characters"),
        ({"path": "/a/../{id}"}, "'..' segments"),
        ({"path": "/a/%2E%2e/{id}"}, "'..' segments"),
        ({"path": "/items/{nope}"}, "'nope' is not a property"),
        ({"query": ["id"]}, "one place only"),
        ({"headers": {"q": "Authorization"}}, "never set from a client"),
        ({"headers": {"q": "Bad Header"}}, "not a valid HTTP header name"),
        ({"body_argument": "q"}, "needs POST, PUT or PATCH"),
        ({"input_schema": {"type": "array"}}, "type\": \"object"),
        ({"input_schema": {"type": "object", "properties": {"id": {"type": 5}}}}, "not valid JSON Schema"),
        ({"timeout_seconds": 0}, "timeout must be between"),
        ({"name": "bad name"}, "tool name"),
    ],
)
def test_bad_definitions_are_refused(api, changes, message):
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace("?", r"\?").replace("+", r"\+")):
        _define(api, **changes)
    assert not Tool.objects.exists()


def test_define_on_an_mcp_upstream_is_refused(owner, settings):
    settings.GATEHOUSE_REST_TOOLS = True
    upstream = services.upstream_create(owner=owner, name="mcp", url="https://mcp.example.com/mcp")
    with pytest.raises(CatalogError, match="not a REST upstream"):
        services.rest_tool_define(upstream=upstream, name="x", path="/x", actor=owner)


def test_switching_transport_to_or_from_rest_is_refused(api):
    with pytest.raises(CatalogError, match="REST transport"):
        services.upstream_update(upstream=api, actor=api.owner, transport="streamable_http")


def test_discover_rechecks_definitions(api):
    _define(api)
    report = services.upstream_discover(upstream=api)
    assert report.ok and report.tools == ["items__get_item"]
    RestEndpoint.objects.update(path="/items/{gone}")
    report = services.upstream_discover(upstream=api)
    assert not report.ok and "'gone' is not a property" in report.error
    api.refresh_from_db()
    assert api.discovery_status == Upstream.DiscoveryStatus.FAILED


def test_snapshot_carries_the_endpoint_only_when_switched_on(api, settings):
    _define(api, query=["q"], headers={"id": "X-Id"}, path="/items")
    principal = principal_for_user(api.owner)
    route = snapshot_build(principal=principal, server_slug="").tools["items__get_item"]
    assert route.rest.method == "GET" and route.rest.query == ("q",) and route.rest.headers == (("id", "X-Id"),)
    settings.GATEHOUSE_REST_TOOLS = False
    assert snapshot_build(principal=principal, server_slug="").tools == {}


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_commands_register_a_rest_upstream_and_define_a_tool(owner, settings, tmp_path):
    settings.GATEHOUSE_REST_TOOLS = True
    output = _run("add_upstream", "--name", "weather", "--transport", "rest", "--url", "https://api.example.com",
                  "--owner", owner.email)
    assert "Discovered 0 tools" in output
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"city": {"type": "string"}, "trace": {"type": "string"}}}))
    output = _run("add_rest_tool", "--upstream", "weather", "--name", "forecast", "--path", "/forecast/{city}",
                  "--header", "X-Trace=trace", "--schema-file", str(schema), "--timeout", "7")
    assert output.strip() == "Tool weather__forecast: GET https://api.example.com/forecast/{city}"
    endpoint = RestEndpoint.objects.get(tool__exposed_name="weather__forecast")
    assert endpoint.headers == {"trace": "X-Trace"} and endpoint.timeout_seconds == 7


def test_add_rest_tool_reports_a_bad_definition(api):
    with pytest.raises(CommandError, match="must start with '/'"):
        _run("add_rest_tool", "--upstream", "items", "--name", "x", "--path", "x")
    with pytest.raises(CommandError, match="HEADER=ARGUMENT"):
        _run("add_rest_tool", "--upstream", "items", "--name", "x", "--path", "/x", "--header", "X-Trace")


def _admin_form(api, **changes) -> dict:
    return {"upstream": api.pk, "name": "get_item", "method": "GET", "path": "/items/{id}", "query": '["q"]',
            "headers": "{}", "body_argument": "", "timeout_seconds": "", "title": "", "description": "Fetch.",
            "input_schema": json.dumps(SCHEMA), **changes}


def test_admin_defines_a_rest_tool(client, admin_user, api):
    client.force_login(admin_user)
    response = client.post("/admin/catalog/restendpoint/add/", _admin_form(api))
    assert response.status_code == 302, response.content.decode()[:2000]
    tool = Tool.objects.get(exposed_name="items__get_item")
    assert tool.description == "Fetch." and tool.rest_endpoint.query == ["q"]
    page = client.get(f"/admin/catalog/restendpoint/{tool.pk}/change/").content.decode()
    assert "get_item" in page and "/items/{id}" in page


def test_admin_shows_a_bad_definition_as_a_form_error(client, admin_user, api):
    client.force_login(admin_user)
    response = client.post("/admin/catalog/restendpoint/add/", _admin_form(api, path="/items/{nope}"))
    assert response.status_code == 200
    assert "is not a property of the input schema" in response.content.decode()
    assert not Tool.objects.exists()


def _api_client(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_defines_a_rest_tool_and_lists_its_endpoint(api):
    client = _api_client(api.owner)
    response = client.post(f"/api/v1/upstreams/{api.pk}/rest-tools/", {
        "name": "get_item", "path": "/items/{id}", "query": ["q"], "input_schema": SCHEMA}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["exposed_name"] == "items__get_item"
    assert response.json()["rest"]["query"] == ["q"]
    tools = client.get("/api/v1/tools/").json()
    rows = tools["results"] if isinstance(tools, dict) else tools
    assert [row["rest"]["path"] for row in rows] == ["/items/{id}"]


def test_api_reports_a_bad_definition_as_400(api):
    response = _api_client(api.owner).post(f"/api/v1/upstreams/{api.pk}/rest-tools/", {
        "name": "get_item", "path": "/items/{nope}", "input_schema": SCHEMA}, format="json")
    assert response.status_code == 400 and "not a property" in response.json()["detail"]


def test_api_outsider_cannot_define_tools_on_a_private_upstream(api, outsider):
    response = _api_client(outsider).post(f"/api/v1/upstreams/{api.pk}/rest-tools/", {
        "name": "get_item", "path": "/items"}, format="json")
    assert response.status_code == 404
    assert not Tool.objects.exists()


def test_export_and_import_carry_rest_endpoints(api, tmp_path):
    _define(api, query=["q"], headers={"id": "X-Id"}, path="/items", timeout_seconds=4)
    out = StringIO()
    call_command("export_config", stdout=out, stderr=StringIO())
    before = json.loads(out.getvalue())
    assert before["rest_endpoints"] == [{"upstream": "items", "tool": "get_item", "method": "GET", "path": "/items",
                                         "query": ["q"], "headers": {"id": "X-Id"}, "body_argument": "",
                                         "timeout_seconds": 4}]
    path = tmp_path / "config.json"
    path.write_text(out.getvalue())
    Upstream.objects.all().delete()
    call_command("import_config", str(path), stdout=StringIO())
    endpoint = RestEndpoint.objects.get(tool__exposed_name="items__get_item")
    assert (endpoint.path, endpoint.query, endpoint.headers, endpoint.timeout_seconds) == ("/items", ["q"], {"id": "X-Id"}, 4)
