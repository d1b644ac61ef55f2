"""REST APIs as tools, through the real ASGI app against a real HTTP server process (tests/fixtures/rest_server.py)."""
from __future__ import annotations

import json
import sys
import time

import pytest
from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from catalog.errors import CatalogError
from proxy.tests.conftest import Gateway
from proxy.upstream.rest import rest_clients_close
from tests.factories import UserFactory
from tests.processes import ROOT, free_port, running
from tokens import services as token_services
from tokens.usage import usage_flush

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "rest-upstream-secret-token"
ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "q": {"type": "array", "items": {"type": "string"}},
        "trace": {"type": "string"},
        "count": {"type": "integer", "minimum": 1},
        "note": {"type": "string"},
    },
    "required": ["id"],
}


@pytest.fixture(scope="module")
def rest_api():
    port = free_port()
    with running([sys.executable, str(ROOT / "tests" / "fixtures" / "rest_server.py"), "--port", str(port)], port):
        yield f"http://127.0.0.1:{port}/api"


@pytest.fixture
async def closed_clients():
    yield
    await rest_clients_close()
    # Write this test's token-usage records now: a flush scheduled on this test's loop would otherwise be left for
    # a later test to find.
    await usage_flush()


def _define(upstream, name: str, path: str, **definition):
    return catalog_services.rest_tool_define(upstream=upstream, name=name, path=path, actor=upstream.owner, **definition)


@pytest.fixture
def rest_catalog(transactional_db, rest_api, settings):
    settings.GATEHOUSE_REST_TOOLS = True
    owner = UserFactory(email="rest-owner@example.com")
    upstream = catalog_services.upstream_create(
        owner=owner, name="Items API", slug="items", url=rest_api, transport="rest", auth_type="bearer",
        credentials={"token": SECRET}, timeout_seconds=5,
    )
    tools = [
        _define(upstream, "get_item", "/echo/items/{id}", query=["q"], headers={"trace": "X-Trace"},
                input_schema=ITEM_SCHEMA, description="Fetch one item."),
        _define(upstream, "update_item", "/echo/items/{id}", method="PATCH", input_schema=ITEM_SCHEMA),
        _define(upstream, "put_note", "/echo/notes/{id}", method="PUT", body_argument="note", input_schema=ITEM_SCHEMA),
        _define(upstream, "array", "/array"),
        _define(upstream, "scalar", "/scalar"),
        _define(upstream, "text", "/text"),
        _define(upstream, "missing", "/missing"),
        _define(upstream, "failing", "/failing"),
        _define(upstream, "slow", "/slow", query=["seconds"], timeout_seconds=1,
                input_schema={"type": "object", "properties": {"seconds": {"type": "number"}}}),
    ]
    catalog_services.server_create(owner=owner, slug="rest", tools=[(tool, "") for tool in tools])
    _, token = token_services.token_create(user=owner, name="rest-tests")
    return {"owner": owner, "upstream": upstream, "token": token}


@pytest.fixture
async def rest_gateway(rest_catalog, closed_clients, closed_pool) -> Gateway:
    gateway = Gateway("/servers/rest/mcp", rest_catalog["token"])
    await gateway.initialize()
    return gateway


async def _call(gateway: Gateway, name: str, arguments: dict | None = None) -> dict:
    response = await gateway.send(gateway.request("tools/call", {"name": f"items__{name}", "arguments": arguments or {}}))
    return response["json"]


async def test_rest_tools_are_listed_with_their_schema(rest_gateway):
    response = await rest_gateway.send(rest_gateway.request("tools/list"))
    tools = {tool["name"]: tool for tool in response["json"]["result"]["tools"]}
    assert tools["items__get_item"]["inputSchema"] == ITEM_SCHEMA
    assert tools["items__get_item"]["description"] == "Fetch one item."
    assert len(tools) == 9


@pytest.mark.secret_shown("the echo upstream reflects the injected credential", where="/servers/rest/mcp")
async def test_path_query_and_header_mapping_reach_the_api(rest_gateway):
    answer = await _call(rest_gateway, "get_item", {"id": "a/b c", "q": ["x", "y&z"], "trace": "t-1"})
    result = answer["result"]
    assert result["isError"] is False
    seen = result["structuredContent"]
    assert seen["method"] == "GET"
    # The value is encoded whole: a '/' in an argument cannot add a path segment.
    assert seen["path"] == "/api/echo/items/a%2Fb%20c"
    assert seen["query"] == [["q", "x"], ["q", "y&z"]]
    assert seen["headers"]["x-trace"] == "t-1"
    assert seen["headers"]["authorization"] == f"Bearer {SECRET}"
    assert seen["body"] is None
    assert json.loads(result["content"][0]["text"]) == seen


@pytest.mark.secret_shown("the echo upstream reflects the injected credential", where="/servers/rest/mcp")
async def test_remaining_arguments_become_the_json_body(rest_gateway):
    seen = (await _call(rest_gateway, "update_item", {"id": "7", "count": 3, "note": "hi"}))["result"]["structuredContent"]
    assert seen["method"] == "PATCH"
    assert seen["path"] == "/api/echo/items/7"
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["body"] == {"count": 3, "note": "hi"}


@pytest.mark.secret_shown("the echo upstream reflects the injected credential", where="/servers/rest/mcp")
async def test_a_named_body_argument_is_the_whole_body(rest_gateway):
    seen = (await _call(rest_gateway, "put_note", {"id": "7", "note": "just this"}))["result"]["structuredContent"]
    assert seen["method"] == "PUT"
    assert seen["body"] == "just this"


async def test_arrays_and_scalars_are_wrapped_as_structured_content(rest_gateway):
    assert (await _call(rest_gateway, "array"))["result"]["structuredContent"] == {"result": [1, 2, 3]}
    assert (await _call(rest_gateway, "scalar"))["result"]["structuredContent"] == {"result": 42}


async def test_text_answer_is_text_content(rest_gateway):
    result = (await _call(rest_gateway, "text"))["result"]
    assert result == {"content": [{"type": "text", "text": "plain answer"}], "isError": False}


async def test_non_2xx_is_a_tool_error_with_the_status(rest_gateway):
    result = (await _call(rest_gateway, "missing"))["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("HTTP 404 Not Found from upstream 'Items API': ")
    assert "no such item" in result["content"][0]["text"]


async def test_error_excerpt_never_shows_the_upstream_credentials(rest_gateway):
    result = (await _call(rest_gateway, "failing"))["result"]
    text = result["content"][0]["text"]
    assert result["isError"] is True and text.startswith("HTTP 500")
    assert "internal failure" in text
    assert SECRET not in text and "[redacted]" in text


async def test_invalid_arguments_are_invalid_params_with_the_reason(rest_gateway):
    answer = await _call(rest_gateway, "get_item", {"id": "1", "count": 0})
    assert answer["error"]["code"] == -32602
    assert "count" in answer["error"]["message"] and "minimum" in answer["error"]["message"]
    missing = await _call(rest_gateway, "get_item", {})
    assert missing["error"]["code"] == -32602 and "'id' is a required property" in missing["error"]["message"]


async def test_dot_segment_argument_is_refused(rest_gateway):
    answer = await _call(rest_gateway, "get_item", {"id": ".."})
    assert answer["error"]["code"] == -32602


async def test_header_value_with_newline_is_refused(rest_gateway):
    answer = await _call(rest_gateway, "get_item", {"id": "1", "trace": "a\r\nX-Injected: 1"})
    assert answer["error"]["code"] == -32602
    assert "control characters" in answer["error"]["message"]


async def test_slow_api_times_out_naming_the_upstream(rest_gateway):
    started = time.monotonic()
    answer = await _call(rest_gateway, "slow", {"seconds": 5})
    assert answer["error"]["code"] == -32001
    assert answer["error"]["message"] == "Upstream 'Items API' did not answer within 1s."
    assert time.monotonic() - started < 4


@pytest.mark.secret_shown("the echo upstream reflects the injected credential", where="/servers/rest/mcp")
async def test_keep_alive_connection_is_reused(rest_gateway):
    first = await _call(rest_gateway, "get_item", {"id": "1"})
    second = await _call(rest_gateway, "get_item", {"id": "2"})
    assert first["result"]["structuredContent"]["path"].endswith("/1")
    assert second["result"]["structuredContent"]["path"].endswith("/2")
    from proxy.upstream import rest

    clients = [client for loop_clients in rest._clients.values() for client in loop_clients.values()]
    assert len(clients) == 1


async def test_loopback_api_is_refused_when_egress_does_not_allow_it(rest_gateway, settings):
    settings.GATEHOUSE_EGRESS_ALLOW = ()
    answer = await _call(rest_gateway, "array")
    assert answer["error"] == {"code": -32000, "message": "Upstream 'Items API' is unavailable."}


async def test_unreachable_api_is_unavailable(rest_api, closed_clients, closed_pool, settings, transactional_db):
    def build():
        settings.GATEHOUSE_REST_TOOLS = True
        owner = UserFactory(email="gone@example.com")
        upstream = catalog_services.upstream_create(
            owner=owner, name="gone", url=f"http://127.0.0.1:{free_port()}", transport="rest", timeout_seconds=2
        )
        tool = _define(upstream, "ping", "/ping")
        catalog_services.server_create(owner=owner, slug="gone", tools=[(tool, "")])
        return token_services.token_create(user=owner, name="gone")[1]

    gateway = Gateway("/servers/gone/mcp", await sync_to_async(build)())
    await gateway.initialize()
    response = await gateway.send(gateway.request("tools/call", {"name": "gone__ping", "arguments": {}}))
    assert response["json"]["error"] == {"code": -32000, "message": "Upstream 'gone' is unavailable."}


async def test_rest_tools_are_not_served_when_switched_off(rest_catalog, closed_clients, closed_pool, settings):
    settings.GATEHOUSE_REST_TOOLS = False
    gateway = Gateway("/servers/rest/mcp", rest_catalog["token"])
    await gateway.initialize()
    listing = await gateway.send(gateway.request("tools/list"))
    assert listing["json"]["result"]["tools"] == []
    answer = await _call(gateway, "array")
    assert answer["error"]["code"] == -32602 and "Unknown tool" in answer["error"]["message"]


def test_rest_upstream_refused_when_switched_off(owner, settings):
    settings.GATEHOUSE_REST_TOOLS = False
    with pytest.raises(CatalogError, match="GATEHOUSE_REST_TOOLS"):
        catalog_services.upstream_create(owner=owner, name="api", url="https://api.example.com", transport="rest")


def test_health_probe_of_a_rest_api_is_any_http_answer(rest_catalog, rest_api, settings):
    from catalog.health_services import upstream_health_check

    assert upstream_health_check(upstream=rest_catalog["upstream"]).ok
    gone = catalog_services.upstream_create(
        owner=rest_catalog["owner"], name="gone", url=f"http://127.0.0.1:{free_port()}", transport="rest"
    )
    assert not upstream_health_check(upstream=gone).ok


@pytest.mark.secret_shown("the echo upstream reflects the injected credential", where="/servers/rest/mcp")
async def test_changed_credentials_retire_the_old_client(rest_gateway, rest_catalog):
    from proxy.upstream import rest

    assert (await _call(rest_gateway, "array"))["result"]["isError"] is False
    await sync_to_async(catalog_services.upstream_update)(
        upstream=rest_catalog["upstream"], actor=rest_catalog["owner"], credentials={"token": "rotated-token-value"}
    )
    seen = (await _call(rest_gateway, "get_item", {"id": "1"}))["result"]["structuredContent"]
    assert seen["headers"]["authorization"] == "Bearer rotated-token-value"
    assert len([client for clients in rest._clients.values() for client in clients.values()]) == 1


def test_a_query_in_the_upstream_url_is_kept_beside_mapped_arguments():
    from catalog.snapshot import RestEndpointSpec, UpstreamTarget
    from proxy.upstream.rest import request_build

    target = UpstreamTarget(id=1, slug="api", name="api", url="https://api.example.com/v1?api-version=2",
                            transport="rest", headers=(), timeout_seconds=5)
    endpoint = RestEndpointSpec(method="GET", path="/items/{id}", query=("q",), headers=(), body_argument="",
                                input_schema="{}", timeout_seconds=None)
    request = request_build(target, endpoint, {"id": "7", "q": ["a", 1]})
    assert str(request.url) == "https://api.example.com/v1/items/7?api-version=2&q=a&q=1"
