"""Virtual servers that allow anonymous callers: off by default, one server only, never a fallback for a bad token."""
from __future__ import annotations

from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from proxy.tests.conftest import Gateway


async def _open(catalog) -> None:
    await sync_to_async(catalog_services.server_update)(
        server=catalog["server"], actor=catalog["owner"], allow_anonymous=True
    )


async def test_server_refuses_callers_without_a_token_by_default(gateway):
    anonymous = Gateway("/servers/demo/mcp", None)
    assert (await anonymous.initialize())["status"] == 401


async def test_anonymous_caller_uses_a_server_that_allows_it(catalog, closed_pool):
    await _open(catalog)
    anonymous = Gateway("/servers/demo/mcp", None)
    assert (await anonymous.initialize())["status"] == 200
    listed = await anonymous.send(anonymous.request("tools/list"))
    assert "fixture__echo" in [tool["name"] for tool in listed["json"]["result"]["tools"]]
    called = await anonymous.send(anonymous.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "hi"}}))
    assert called["json"]["result"]["content"][0]["text"] == "hi"


async def test_invalid_token_is_not_downgraded_to_anonymous(catalog, closed_pool):
    await _open(catalog)
    assert (await Gateway("/servers/demo/mcp", "gh_not-a-real-token").initialize())["status"] == 401


async def test_anonymous_access_does_not_open_the_aggregate_endpoint(catalog, closed_pool):
    await _open(catalog)
    assert (await Gateway("/mcp", None).initialize())["status"] == 401


async def test_anonymous_session_is_not_the_owners_session(catalog, closed_pool):
    await _open(catalog)
    anonymous = Gateway("/servers/demo/mcp", None)
    await anonymous.initialize()
    owner = Gateway("/servers/demo/mcp", catalog["token"])
    owner.session_id = anonymous.session_id
    assert (await owner.send(owner.request("ping")))["status"] == 404
