"""Two real Gatehouse processes sharing PostgreSQL and Redis behave as one (no sticky load balancing needed)."""
from __future__ import annotations

import asyncio
import os
from contextlib import ExitStack
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.mcp_clients import raw_session
from tests.processes import gatehouse_server
from tests.published import upstream_published

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a shared Redis (REDIS_URL)"),
]


@pytest.fixture(scope="module")
def two_gateways(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    logs = Path(tmp_path_factory.mktemp("scale-out"))
    with ExitStack() as stack:
        first = stack.enter_context(gatehouse_server(connection.settings_dict, logs / "a.log"))
        second = stack.enter_context(gatehouse_server(connection.settings_dict, logs / "b.log"))
        yield first, second


@pytest.fixture
def shared_catalog(upstream_process, two_gateways):
    def setup() -> str:
        return upstream_published(
            email="scale@example.com", url=upstream_process.url, name="shared", server_slug="shared"
        ).token

    return setup


async def test_a_session_opened_on_one_process_continues_on_the_other(two_gateways, shared_catalog):
    first, second = two_gateways
    token = await sync_to_async(shared_catalog)()
    async with raw_session(f"{first}/servers/shared/mcp", token) as on_first:
        session_id = on_first.session_id
    async with raw_session(f"{second}/servers/shared/mcp", token, initialize=False) as on_second:
        on_second.session_id = session_id
        response = await on_second.post(on_second.request("tools/call", {"name": "shared__echo", "arguments": {"text": "b"}}))
    assert response.status_code == 200
    assert response.json()["result"]["content"][0]["text"] == "b"


async def test_a_session_ended_on_one_process_is_unknown_on_the_other(two_gateways, shared_catalog):
    first, second = two_gateways
    token = await sync_to_async(shared_catalog)()
    async with raw_session(f"{first}/servers/shared/mcp", token) as on_first:
        ended = await on_first.http.delete(on_first.url, headers={**on_first.headers, "Mcp-Session-Id": on_first.session_id})
        assert ended.status_code == 204
        session_id = on_first.session_id
    async with raw_session(f"{second}/servers/shared/mcp", token, initialize=False) as on_second:
        on_second.session_id = session_id
        response = await on_second.post(on_second.request("ping"))
    assert response.status_code == 404


async def test_a_token_revoked_through_one_process_is_refused_by_the_other_at_once(two_gateways, shared_catalog):
    first, second = two_gateways
    token = await sync_to_async(shared_catalog)()
    async with raw_session(f"{second}/servers/shared/mcp", token) as on_second:
        assert (await on_second.post(on_second.request("ping"))).status_code == 200
        listed = await on_second.http.get(f"{first}/api/v1/tokens/", headers=on_second.headers)
        token_id = listed.json()["results"][0]["id"]
        revoked = await on_second.http.delete(f"{first}/api/v1/tokens/{token_id}/", headers=on_second.headers)
        assert revoked.status_code == 204
        assert (await on_second.post(on_second.request("ping"))).status_code == 401


async def test_a_message_relayed_on_one_process_reaches_the_stream_held_by_the_other(two_gateways, conformance_upstream):
    """The GET stream lives on A; the call (and its upstream session, bound to the client session) runs on B, whose
    JSON-only POST cannot carry the upstream's log messages: they travel to A through the channel layer."""
    import json

    from catalog.models import Upstream

    first, second = two_gateways
    published = await sync_to_async(upstream_published)(
        email="relay@example.com", url=conformance_upstream.url, name="talkative", server_slug="talkative",
        session_binding=Upstream.SessionBinding.CLIENT_SESSION,
    )
    async with raw_session(f"{first}/servers/talkative/mcp", published.token) as on_first:
        stream_headers = {**on_first.headers, "Accept": "text/event-stream", "Mcp-Session-Id": on_first.session_id}
        async with on_first.http.stream("GET", on_first.url, headers=stream_headers) as stream:
            assert stream.status_code == 200
            await asyncio.sleep(1.0)  # the stream joins its session's group
            async with raw_session(f"{second}/servers/talkative/mcp", published.token, initialize=False) as on_second:
                on_second.session_id = on_first.session_id
                call = on_second.request("tools/call", {"name": "talkative__test_tool_with_logging", "arguments": {}})
                answered = await on_second.post(call, Accept="application/json")
                assert answered.json()["result"]["content"][0]["text"] == "Logging test completed"
            logs = []
            async with asyncio.timeout(10):
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        logs.append(json.loads(line.removeprefix("data: "))["params"]["data"])
                    if len(logs) == 3:
                        break
    assert logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]


async def test_a_sampling_request_relayed_through_one_process_is_answered_through_the_other(
    two_gateways, conformance_upstream,
):
    """The call (and its bound upstream session) runs on B for a JSON-only POST; the sampling request reaches the
    client on its GET stream held by A; the client POSTs its answer to A, which routes it to B."""
    import json

    from catalog.models import Upstream

    first, second = two_gateways
    published = await sync_to_async(upstream_published)(
        email="sampler@example.com", url=conformance_upstream.url, name="sampler", server_slug="sampler",
        session_binding=Upstream.SessionBinding.CLIENT_SESSION,
    )
    async with raw_session(f"{first}/servers/sampler/mcp", published.token, initialize=False) as on_first:
        initialized = await on_first.post(on_first.request("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}},
            "clientInfo": {"name": "tests", "version": "1"},
        }))
        on_first.session_id = initialized.headers["mcp-session-id"]
        stream_headers = {**on_first.headers, "Accept": "text/event-stream", "Mcp-Session-Id": on_first.session_id}
        async with on_first.http.stream("GET", on_first.url, headers=stream_headers) as stream:
            await asyncio.sleep(1.0)  # the stream joins its session's group
            async with raw_session(f"{second}/servers/sampler/mcp", published.token, initialize=False) as on_second:
                on_second.session_id = on_first.session_id
                call = on_second.request("tools/call", {"name": "sampler__test_sampling", "arguments": {"prompt": "Hi?"}})
                answered = asyncio.create_task(on_second.post(call, Accept="application/json"))
                async with asyncio.timeout(15):
                    async for line in stream.aiter_lines():
                        if line.startswith("data: "):
                            ask = json.loads(line.removeprefix("data: "))
                            if ask.get("method") == "sampling/createMessage":
                                break
                reply = {"jsonrpc": "2.0", "id": ask["id"], "result": {
                    "role": "assistant", "content": {"type": "text", "text": "Hello"}, "model": "test-model"}}
                assert (await on_first.post(reply)).status_code == 202
                result = (await asyncio.wait_for(answered, 15)).json()["result"]
    assert result["content"][0]["text"] == "LLM response: Hello"


async def _published_stateful(stateful_upstream, slug: str):
    from catalog.models import Upstream

    return await sync_to_async(upstream_published)(
        email=f"{slug}@example.com", url=stateful_upstream.url, name=slug, server_slug=slug,
        session_binding=Upstream.SessionBinding.CLIENT_SESSION,
    )


async def _count(base: str, token: str, session_id: str, slug: str) -> str:
    async with raw_session(f"{base}/servers/{slug}/mcp", token, initialize=False) as client:
        client.session_id = session_id
        response = await client.post(client.request("tools/call", {"name": f"{slug}__count", "arguments": {}}))
    assert response.status_code == 200, response.text
    return response.json()["result"]["content"][0]["text"]


async def test_a_bound_upstream_session_is_one_session_whichever_process_gets_the_call(two_gateways, stateful_upstream):
    """The counter lives in the upstream session: alternating processes still count on the one session, owned by
    the process that opened it and reached from the other through the channel layer."""
    first, second = two_gateways
    published = await _published_stateful(stateful_upstream, "counted")
    async with raw_session(f"{first}/servers/counted/mcp", published.token) as client:
        session_id = client.session_id
    counts = [await _count(base, published.token, session_id, "counted") for base in (first, second, first, second)]
    assert counts == ["1", "2", "3", "4"]


async def test_server_requests_of_a_call_forwarded_to_the_owner_reach_the_client(two_gateways, stateful_upstream):
    """A owns the bound session; a call POSTed to B runs there, and its sampling and elicitation requests come back
    on B's response stream; the client's answers (POSTed to A and to B) reach the upstream through A."""
    import json

    first, second = two_gateways
    published = await _published_stateful(stateful_upstream, "asker")
    async with raw_session(f"{first}/servers/asker/mcp", published.token, initialize=False) as on_first:
        initialized = await on_first.post(on_first.request("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}, "elicitation": {}},
            "clientInfo": {"name": "tests", "version": "1"},
        }))
        on_first.session_id = initialized.headers["mcp-session-id"]
        assert await _count(first, published.token, on_first.session_id, "asker") == "1"  # A opens and owns it
        headers = {**on_first.headers, "Mcp-Session-Id": on_first.session_id}
        call = on_first.request("tools/call", {"name": "asker__ask", "arguments": {"question": "Hi?"}})
        asked, answer_to = [], iter((first, second))
        async with on_first.http.stream("POST", f"{second}/servers/asker/mcp", json=call, headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async with asyncio.timeout(20):
                async for line in stream.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    message = json.loads(line.removeprefix("data: "))
                    if "result" in message or "error" in message:
                        final = message
                        break
                    asked.append(message["method"])
                    if message["method"] == "sampling/createMessage":
                        result = {"role": "assistant", "content": {"type": "text", "text": "Hello"}, "model": "m"}
                    else:
                        result = {"action": "accept", "content": {"name": "Ann"}}
                    reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
                    posted = await on_first.http.post(f"{next(answer_to)}/servers/asker/mcp", json=reply, headers=headers)
                    assert posted.status_code == 202
    assert asked == ["sampling/createMessage", "elicitation/create"]
    assert final["result"]["content"][0]["text"] == 'model=Hello user=accept:{"name": "Ann"}'
    assert await _count(second, published.token, on_first.session_id, "asker") == "2"


async def test_a_bound_session_whose_owner_is_gone_is_taken_over(two_gateways, stateful_upstream, tmp_path):
    """The owner process stops; the next call waits GATEHOUSE_SESSION_OWNER_TIMEOUT_SECONDS for it, then opens a
    fresh upstream session where it landed (the counter starts again)."""
    from django.db import connection

    first, _ = two_gateways
    published = await _published_stateful(stateful_upstream, "orphaned")
    with gatehouse_server(connection.settings_dict, tmp_path / "owner.log") as owner:
        async with raw_session(f"{owner}/servers/orphaned/mcp", published.token) as client:
            session_id = client.session_id
        assert await _count(owner, published.token, session_id, "orphaned") == "1"
        assert await _count(first, published.token, session_id, "orphaned") == "2"
    assert await _count(first, published.token, session_id, "orphaned") == "1"
    assert await _count(first, published.token, session_id, "orphaned") == "2"


async def test_a_held_call_is_resumed_through_another_process(two_gateways, stateful_upstream):
    """A stateless client's call to a handshake-era upstream is held on A; its retries, POSTed to B, reach the
    held call through the channel layer until it finishes."""
    first, second = two_gateways
    published = await sync_to_async(upstream_published)(
        email="held@example.com", url=stateful_upstream.url, name="old", server_slug="heldout",
    )
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"sampling": {}, "elicitation": {}}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "old__ask"}
    answers = iter(({"role": "assistant", "content": {"type": "text", "text": "Hello"}, "model": "m"},
                    {"action": "accept", "content": {"name": "Ann"}}))
    params = {"name": "old__ask", "arguments": {"question": "Hi?"}, "_meta": meta}
    async with raw_session(f"{first}/servers/heldout/mcp", published.token, initialize=False) as client:
        result = (await client.post(client.request("tools/call", params), **headers)).json()["result"]
        asked = []
        while result["resultType"] == "input_required":
            [(key, request)] = result["inputRequests"].items()
            asked.append(request["method"])
            retry = {**params, "inputResponses": {key: next(answers)}, "requestState": result["requestState"]}
            client.url = f"{second}/servers/heldout/mcp"
            result = (await client.post(client.request("tools/call", retry), **headers)).json()["result"]
    assert asked == ["sampling/createMessage", "elicitation/create"]
    assert result["content"][0]["text"] == 'model=Hello user=accept:{"name": "Ann"}'


async def test_cancelling_a_call_forwarded_to_the_owner_cancels_it_upstream(two_gateways, stateful_upstream):
    first, second = two_gateways
    published = await _published_stateful(stateful_upstream, "lingering")
    async with raw_session(f"{first}/servers/lingering/mcp", published.token) as client:
        assert await _count(first, published.token, client.session_id, "lingering") == "1"  # A owns the session

        async def cancelled_so_far() -> int:
            call = client.request("tools/call", {"name": "lingering__cancellations", "arguments": {}})
            return int((await client.post(call)).json()["result"]["content"][0]["text"])

        before = await cancelled_so_far()
        client.url = f"{second}/servers/lingering/mcp"
        call = client.request("tools/call", {"name": "lingering__linger", "arguments": {"seconds": 30}})
        lingering = asyncio.create_task(client.post(call))
        await asyncio.sleep(1.5)  # forwarded to A, running upstream
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": call["id"]}}
        assert (await client.post(cancel)).status_code == 202
        async with asyncio.timeout(10):
            while await cancelled_so_far() == before:
                await asyncio.sleep(0.2)
        lingering.cancel()
        assert await cancelled_so_far() == before + 1


async def test_a_listen_stream_on_one_process_hears_changes_made_through_the_other(two_gateways, conformance_upstream):
    """The SDK client listens on A. A catalog edit (made by this test process) reaches A through the shared catalog
    version in Redis; an upstream change triggered by a call through B reaches A's stream through the upstream."""
    from mcp.shared.subscriptions import PromptsListChanged, ToolsListChanged

    from catalog import services as catalog_services
    from catalog.models import Tool
    from tests.mcp_clients import sdk_client

    first, second = two_gateways
    published = await sync_to_async(upstream_published)(
        email="listener@example.com", url=conformance_upstream.url, name="heard", server_slug="heard", everything=True,
    )
    async with sdk_client(f"{first}/servers/heard/mcp", published.token) as on_first:
        async with on_first.listen(tools_list_changed=True, prompts_list_changed=True) as subscription:
            tool = await Tool.objects.aget(exposed_name="heard__test_simple_text")
            await sync_to_async(catalog_services.catalog_entry_update)(entry=tool, actor=published.owner, enabled=False)
            async with asyncio.timeout(10):
                assert await anext(subscription) == ToolsListChanged()
            async with sdk_client(f"{second}/servers/heard/mcp", published.token) as on_second:
                await on_second.call_tool("heard__test_trigger_prompt_change", {})
            async with asyncio.timeout(10):
                assert await anext(subscription) == PromptsListChanged()


async def test_a_legacy_sse_message_posted_to_one_process_is_answered_on_the_stream_held_by_the_other(
    two_gateways, shared_catalog,
):
    """The stream is on A; the POST lands on B, which does not hold it and forwards it through the channel layer."""
    import json

    import httpx2

    first, second = two_gateways
    token = await sync_to_async(shared_catalog)()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0), headers=headers) as http:
        async with http.stream("GET", f"{first}/servers/shared/sse", headers={"Accept": "text/event-stream"}) as stream:
            data = (line.removeprefix("data: ") async for line in stream.aiter_lines() if line.startswith("data: "))
            async with asyncio.timeout(10):
                endpoint = await anext(data)
                posted = await http.post(f"{second}{endpoint}", json={
                    "jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"protocolVersion": "2024-11-05", "capabilities": {},
                               "clientInfo": {"name": "tests", "version": "1"}},
                })
                assert posted.status_code == 202
                answer = json.loads(await anext(data))
    assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "gatehouse"


async def test_a_log_level_set_through_one_process_filters_log_messages_on_the_other(
    two_gateways, conformance_upstream,
):
    """logging/setLevel reaches B; the call runs on A (which opened the bound upstream session): its info-level log
    messages are filtered there, so the answer is plain JSON rather than a stream carrying them."""
    from catalog.models import Upstream

    first, second = two_gateways
    published = await sync_to_async(upstream_published)(
        email="quiet@example.com", url=conformance_upstream.url, name="quiet", server_slug="quiet",
        session_binding=Upstream.SessionBinding.CLIENT_SESSION,
    )
    call = {"name": "quiet__test_tool_with_logging", "arguments": {}}
    async with raw_session(f"{first}/servers/quiet/mcp", published.token) as on_first:
        chatty = await on_first.post(on_first.request("tools/call", call))
        assert chatty.headers["content-type"].startswith("text/event-stream")  # info logs, then the result
        async with raw_session(f"{second}/servers/quiet/mcp", published.token, initialize=False) as on_second:
            on_second.session_id = on_first.session_id
            assert (await on_second.post(on_second.request("logging/setLevel", {"level": "warning"}))).status_code == 200
        quiet = await on_first.post(on_first.request("tools/call", call))
    assert quiet.headers["content-type"] == "application/json"
    assert quiet.json()["result"]["content"][0]["text"] == "Logging test completed"
