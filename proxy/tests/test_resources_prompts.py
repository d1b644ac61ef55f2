"""Resources, resource templates, prompts and completion through a virtual server, against the real fixture upstream."""
from __future__ import annotations

import pytest

from catalog import services as catalog_services
from catalog.models import Prompt, Resource, Tool
from proxy.tests.conftest import Gateway
from tokens import services as token_services


@pytest.fixture
def full_server(catalog):
    """A server over the fixture's tools, its prompt (also aliased as 'brief') and its resource."""
    upstream, owner = catalog["upstream"], catalog["owner"]
    summarize = Prompt.objects.get(upstream=upstream, original_name="summarize")
    catalog_services.server_create(
        owner=owner,
        slug="full",
        tools=[(tool, "") for tool in Tool.objects.filter(upstream=upstream)],
        prompts=[(summarize, "")],
        resources=[(resource, "") for resource in Resource.objects.filter(upstream=upstream)],
    )
    catalog_services.server_create(owner=owner, slug="aliased", prompts=[(summarize, "brief")])
    return catalog


@pytest.fixture
async def full(full_server, closed_pool) -> Gateway:
    gateway = Gateway("/servers/full/mcp", full_server["token"])
    await gateway.initialize()
    return gateway


async def _result(gateway: Gateway, method: str, params: dict | None = None) -> dict:
    response = await gateway.send(gateway.request(method, params))
    assert "result" in response["json"], response["json"]
    return response["json"]["result"]


async def _error(gateway: Gateway, method: str, params: dict) -> dict:
    response = await gateway.send(gateway.request(method, params))
    assert "error" in response["json"], response["json"]
    return response["json"]["error"]


async def test_initialize_advertises_what_the_server_offers(full_server, closed_pool):
    gateway = Gateway("/servers/full/mcp", full_server["token"])
    capabilities = (await gateway.initialize())["json"]["result"]["capabilities"]
    assert set(capabilities) == {"tools", "resources", "prompts", "completions", "logging"}
    # The fixture upstream is pooled: its resource updates could not be told apart per client.
    assert capabilities["resources"] == {"subscribe": False, "listChanged": True}


async def test_a_tools_only_server_of_another_upstream_offers_no_prompts(gateway):
    capabilities = (await gateway.initialize())["json"]["result"]["capabilities"]
    assert "prompts" not in capabilities


async def test_resources_list_shows_the_composed_resource(full):
    result = await _result(full, "resources/list")
    assert result["resources"] == [
        {"uri": "fixture://greeting", "name": "greeting", "mimeType": "text/plain"},
    ]


async def test_resource_templates_follow_their_upstream(full):
    result = await _result(full, "resources/templates/list")
    assert [template["uriTemplate"] for template in result["resourceTemplates"]] == ["fixture://items/{item_id}"]


async def test_reading_a_listed_resource_relays_its_contents(full):
    result = await _result(full, "resources/read", {"uri": "fixture://greeting"})
    assert result["contents"][0]["text"] == "hello from the fixture"
    assert result["contents"][0]["uri"] == "fixture://greeting"


async def test_reading_through_a_template_routes_to_its_upstream(full):
    result = await _result(full, "resources/read", {"uri": "fixture://items/beta"})
    assert result["contents"][0]["text"] == "item beta"


async def test_reading_an_unknown_resource_is_resource_not_found(full):
    error = await _error(full, "resources/read", {"uri": "fixture://nothing-here"})
    assert error["code"] == -32002
    assert error["data"] == {"uri": "fixture://nothing-here"}


async def test_prompts_list_and_get(full):
    listed = await _result(full, "prompts/list")
    assert [prompt["name"] for prompt in listed["prompts"]] == ["fixture__summarize"]
    assert listed["prompts"][0]["arguments"][0]["name"] == "topic"
    got = await _result(full, "prompts/get", {"name": "fixture__summarize", "arguments": {"topic": "gateways"}})
    assert got["messages"][0]["content"]["text"] == "Summarize gateways in one line."


async def test_prompt_alias_routes_to_the_upstream_prompt(full_server, closed_pool):
    gateway = Gateway("/servers/aliased/mcp", full_server["token"])
    await gateway.initialize()
    assert [p["name"] for p in (await _result(gateway, "prompts/list"))["prompts"]] == ["brief"]
    got = await _result(gateway, "prompts/get", {"name": "brief", "arguments": {"topic": "mcp"}})
    assert got["messages"][0]["content"]["text"] == "Summarize mcp in one line."


@pytest.mark.parametrize(
    "params",
    [{"name": "nope"}, {"name": "fixture__summarize", "arguments": {"topic": 7}}, {"arguments": {}}],
    ids=["unknown-prompt", "non-string-argument", "no-name"],
)
async def test_bad_prompts_get_is_invalid_params(full, params):
    assert (await _error(full, "prompts/get", params))["code"] == -32602


async def test_completion_of_a_prompt_argument(full):
    result = await _result(full, "completion/complete", {
        "ref": {"type": "ref/prompt", "name": "fixture__summarize"},
        "argument": {"name": "topic", "value": "g"},
    })
    assert result["completion"]["values"] == ["gateways"]


async def test_completion_of_a_template_variable(full):
    result = await _result(full, "completion/complete", {
        "ref": {"type": "ref/resource", "uri": "fixture://items/{item_id}"},
        "argument": {"name": "item_id", "value": "b"},
    })
    assert result["completion"]["values"] == ["beta"]


@pytest.mark.parametrize(
    "params",
    [
        {"ref": {"type": "ref/prompt", "name": "unknown"}, "argument": {"name": "topic", "value": ""}},
        {"ref": {"type": "ref/tool", "name": "x"}, "argument": {"name": "a", "value": ""}},
        {"ref": "not-an-object", "argument": {}},
    ],
    ids=["unknown-prompt", "unknown-ref-type", "malformed-ref"],
)
async def test_bad_completion_is_invalid_params(full, params):
    assert (await _error(full, "completion/complete", params))["code"] == -32602


async def test_aggregate_endpoint_offers_every_visible_prompt_and_resource(full_server, closed_pool):
    gateway = Gateway("/mcp", full_server["token"])
    await gateway.initialize()
    assert "fixture__summarize" in [p["name"] for p in (await _result(gateway, "prompts/list"))["prompts"]]
    assert "fixture://greeting" in [r["uri"] for r in (await _result(gateway, "resources/list"))["resources"]]


async def test_a_disabled_prompt_disappears(full, full_server):
    from asgiref.sync import sync_to_async

    prompt = await Prompt.objects.aget(exposed_name="fixture__summarize")
    await sync_to_async(catalog_services.catalog_entry_update)(entry=prompt, actor=full_server["owner"], enabled=False)
    assert (await _result(full, "prompts/list"))["prompts"] == []
    assert (await _error(full, "prompts/get", {"name": "fixture__summarize"}))["code"] == -32602


async def test_outsider_cannot_read_the_owners_private_resource(full_server, closed_pool):
    from asgiref.sync import sync_to_async

    from tests.factories import UserFactory

    token = await sync_to_async(
        lambda: token_services.token_create(user=UserFactory(email="nosy@example.com"), name="nosy")[1]
    )()
    gateway = Gateway("/mcp", token)
    await gateway.initialize()
    assert (await _result(gateway, "resources/list"))["resources"] == []
    assert (await _error(gateway, "resources/read", {"uri": "fixture://greeting"}))["code"] == -32002
