"""Federation loops through more than one peer: two real Gatehouse processes (instance ids gw-a and gw-b) each
federate the other's virtual server. A request A→B→A is caught by A even though B's pooled session to A only says
``Via: 1.1 gw-b``: the request's chain travels in the ``_meta`` of the upstream requests made on its behalf."""
from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from tests.mcp_clients import raw_session
from tests.processes import gatehouse_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def peers(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection

    logs = Path(tmp_path_factory.mktemp("federation-loops"))
    with ExitStack() as stack:
        first, second = (
            stack.enter_context(gatehouse_server(connection.settings_dict, logs / f"{name}.log", {
                "GATEHOUSE_INSTANCE_ID": name,
            }))
            for name in ("gw-a", "gw-b")
        )
        yield first, second


def _federated_both_ways(first: str, second: str) -> str:
    """Server ``sa`` on A offers ``loop`` from B's server ``sb``, whose ``loop`` comes from A's ``sa``."""
    from catalog import services as catalog_services
    from catalog.models import Tool
    from tests.factories import UserFactory
    from tokens import services as token_services

    owner = UserFactory(email="loops@example.com")
    _, token = token_services.token_create(user=owner, name="loops")

    def peer_tool(name: str, url: str) -> Tool:
        upstream = catalog_services.upstream_create(
            owner=owner, name=name, url=url, timeout_seconds=10, auth_type="bearer", credentials={"token": token},
        )
        return Tool.objects.create(
            upstream=upstream, owner=owner, original_name="loop", exposed_name=f"{name}__loop",
            input_schema='{"type":"object"}',
        )

    # Aliased "loop" on both servers, so each gateway calls the other's tool by the name it exposes itself.
    to_b, to_a = peer_tool("via-b", f"{second}/servers/sb/mcp"), peer_tool("via-a", f"{first}/servers/sa/mcp")
    catalog_services.server_create(owner=owner, slug="sa", tools=[(to_b, "loop")])
    catalog_services.server_create(owner=owner, slug="sb", tools=[(to_a, "loop")])
    return token


async def test_a_request_coming_back_through_another_gateway_is_refused_as_a_loop(peers):
    first, second = peers
    token = await sync_to_async(_federated_both_ways)(first, second)
    started = time.monotonic()
    async with raw_session(f"{first}/servers/sa/mcp", token) as session:
        response = await session.post(session.request("tools/call", {"name": "loop", "arguments": {}}))
    elapsed = time.monotonic() - started
    error = response.json()["error"]
    # A refused the request B made on behalf of A's own request; the refusal travelled back through B.
    assert "Loop detected: this request already passed through this gateway." in error["message"]
    assert "'via-b'" in error["message"]
    assert elapsed < 8  # refused at the second visit, not left to spin until a timeout


async def test_a_request_through_a_chain_of_gateways_within_the_cap_is_not_a_loop(peers):
    """B answers A's request, and the chain [gw-a] it carries does not name B."""
    first, second = peers
    token = await sync_to_async(_federated_both_ways)(first, second)
    async with raw_session(f"{second}/servers/sb/mcp", token) as session:
        listed = await session.post(session.request("tools/list"), Via="1.1 gw-a")
        assert [tool["name"] for tool in listed.json()["result"]["tools"]] == ["loop"]
        refused = await session.post(session.request("tools/list"), Via="1.1 gw-a, 1.1 gw-b")
    assert refused.status_code == 508
