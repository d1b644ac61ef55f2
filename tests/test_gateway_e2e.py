"""End to end: a real upstream process, Gatehouse as a real server process, real MCP clients."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPError

from catalog import services as catalog_services
from tests.factories import UserFactory
from tests.mcp_clients import raw_session, sdk_client
from tests.processes import FixtureUpstream
from tests.published import upstream_published, upstream_registered
from tokens import services as token_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(upstream_process, gateway):
    """The owner's upstream, a virtual server 'demo' over it, and a token."""
    published = upstream_published(email="demo-owner@example.com", url=upstream_process.url, server_slug="demo")
    return {"owner": published.owner, "server": published.server, "token": published.token,
            "url": f"{gateway}/servers/demo/mcp"}


@pytest.mark.parametrize(("mode", "era"), [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
async def test_sdk_client_lists_and_calls_tools_through_a_virtual_server(demo, mode, era):
    async with sdk_client(demo["url"], demo["token"], mode=mode) as client:
        assert client.protocol_version == era
        listed = await client.list_tools()
        names = sorted(tool.name for tool in listed.tools)
        assert names == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]
        echo = next(tool for tool in listed.tools if tool.name == "fixture__echo")
        assert echo.input_schema["properties"]["text"]["type"] == "string"

        result = await client.call_tool("fixture__add", {"a": 2, "b": 40})
        assert result.is_error is False
        assert result.structured_content == {"result": 42}

        failed = await client.call_tool("fixture__fail", {"message": "nope"})
        assert failed.is_error is True


async def test_aggregate_endpoint_lists_every_tool_the_caller_may_use(demo, gateway):
    async with sdk_client(f"{gateway}/mcp", demo["token"]) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"fixture__echo", "fixture__add"} <= names


async def test_request_without_token_is_401_with_bearer_challenge(demo):
    async with raw_session(demo["url"], None, initialize=False) as session:
        response = await session.initialize()
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_revoked_token_is_refused_on_the_next_request(demo, gateway):
    async with raw_session(demo["url"], demo["token"]) as session:
        assert (await session.post(session.request("ping"))).status_code == 200
        token_id = (await session.http.get(f"{gateway}/api/v1/tokens/", headers=session.headers)).json()["results"][0]["id"]
        revoked = await session.http.delete(f"{gateway}/api/v1/tokens/{token_id}/", headers=session.headers)
        assert revoked.status_code == 204
        assert (await session.post(session.request("ping"))).status_code == 401


async def test_token_restricted_to_another_server_sees_unknown_server(demo, gateway):
    def restricted_token() -> str:
        other = catalog_services.server_create(owner=demo["owner"], slug="other", tools=[])
        return token_services.token_create(user=demo["owner"], name="only-other", servers=[other])[1]

    restricted = await sync_to_async(restricted_token)()
    async with raw_session(demo["url"], restricted, initialize=False) as session:
        response = await session.initialize()
    assert response.status_code == 404
    assert "Unknown server" in response.json()["error"]["message"]


async def test_another_users_private_upstream_tool_is_unknown(demo, gateway, upstream_process):
    def strangers_upstream() -> None:
        stranger = UserFactory(email="stranger@example.com")
        upstream_registered(stranger, upstream_process.url, name="stranger-fixture", slug="stranger")

    await sync_to_async(strangers_upstream)()
    async with sdk_client(f"{gateway}/mcp", demo["token"]) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "stranger__echo" not in names
        with pytest.raises(MCPError) as raised:
            await client.call_tool("stranger__echo", {"text": "hi"})
    assert raised.value.error.code == -32602
    assert "Unknown tool" in raised.value.error.message


async def test_upstream_down_then_back_without_reregistering(gateway):
    upstream_process = FixtureUpstream().start()

    def setup() -> str:
        return upstream_published(
            email="restart-owner@example.com", url=upstream_process.url, name="restartable",
            server_slug="restartable", timeout_seconds=5,
        ).token

    try:
        token = await sync_to_async(setup)()
        url = f"{gateway}/servers/restartable/mcp"
        async with sdk_client(url, token) as client:
            assert (await client.call_tool("restartable__echo", {"text": "one"})).is_error is False
            upstream_process.stop()
            with pytest.raises(MCPError) as raised:
                await client.call_tool("restartable__echo", {"text": "two"})
            assert "restartable" in raised.value.error.message
            upstream_process.start()
            result = await client.call_tool("restartable__echo", {"text": "three"})
            assert result.content[0].text == "three"
    finally:
        upstream_process.stop()


async def test_slow_upstream_times_out_with_an_error_naming_it(upstream_process, gateway):
    def setup() -> str:
        return upstream_published(
            email="slow-owner@example.com", url=upstream_process.url, name="sluggish", server_slug="sluggish",
            timeout_seconds=1,
        ).token

    token = await sync_to_async(setup)()
    async with sdk_client(f"{gateway}/servers/sluggish/mcp", token) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("sluggish__slow", {"seconds": 5})
        assert raised.value.error.code == -32001
        assert "sluggish" in raised.value.error.message
        assert (await client.call_tool("sluggish__echo", {"text": "still up"})).is_error is False


async def test_legacy_sse_upstream_is_discovered_and_called(gateway):
    sse_upstream = FixtureUpstream(transport="sse").start()

    def setup() -> str:
        return upstream_published(
            email="sse-owner@example.com", url=sse_upstream.url, name="old-sse", slug="oldsse", transport="sse",
            server_slug="old-sse",
        ).token

    try:
        token = await sync_to_async(setup)()
        async with sdk_client(f"{gateway}/servers/old-sse/mcp", token) as client:
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert names == ["oldsse__add", "oldsse__echo", "oldsse__fail", "oldsse__slow"]
            result = await client.call_tool("oldsse__add", {"a": 1, "b": 2})
            assert result.structured_content == {"result": 3}
    finally:
        sse_upstream.stop()


async def test_sdk_client_reads_resources_and_gets_prompts_through_gatehouse(upstream_process, gateway):
    from mcp.types import PromptReference

    def setup() -> str:
        return upstream_published(
            email="everything@example.com", url=upstream_process.url, name="everything", slug="every",
            server_slug="everything", everything=True,
        ).token

    token = await sync_to_async(setup)()
    async with sdk_client(f"{gateway}/servers/everything/mcp", token) as client:
        assert [r.uri for r in (await client.list_resources()).resources] == ["fixture://greeting"]
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["fixture://items/{item_id}"]
        read = await client.read_resource("fixture://items/gamma")
        assert read.contents[0].text == "item gamma"
        prompt = await client.get_prompt("every__summarize", {"topic": "django"})
        assert prompt.messages[0].content.text == "Summarize django in one line."
        completed = await client.complete(PromptReference(type="ref/prompt", name="every__summarize"), {"name": "topic", "value": "d"})
        assert completed.completion.values == ["django"]
