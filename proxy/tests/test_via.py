"""Via chains on the way in: a loop named in the header or in ``params._meta``, or a chain past the hop cap, is
refused with 508 and a JSON-RPC error; a chain that does not name this gateway is served."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from proxy.tests.conftest import Gateway

pytestmark = pytest.mark.django_db(transaction=True)


async def _gateway(catalog) -> Gateway:
    gateway = Gateway("/servers/demo/mcp", catalog["token"])
    await gateway.initialize()
    return gateway


async def test_a_meta_chain_naming_this_gateway_is_a_loop(catalog, closed_pool):
    gateway = await _gateway(catalog)
    chain = f"1.1 other-gateway, 1.1 {django_settings.GATEHOUSE_INSTANCE_ID}"
    response = await gateway.send(gateway.request("tools/list", {"_meta": {"gatehouse-via": chain}}))
    assert response["status"] == 508
    assert response["json"]["error"]["code"] == -32600
    assert response["json"]["error"]["message"] == "Loop detected: this request already passed through this gateway."


async def test_a_chain_past_the_hop_cap_is_refused_even_without_a_loop(catalog, closed_pool, settings):
    settings.GATEHOUSE_VIA_MAX_HOPS = 3
    gateway = await _gateway(catalog)
    served = await gateway.send(gateway.request("tools/list"), via="1.1 one, 1.1 two")
    assert served["status"] == 200 and served["json"]["result"]["tools"]
    refused = await gateway.send(gateway.request("tools/list"), via="1.1 one, 1.1 two, 1.1 three")
    assert refused["status"] == 508
    assert "passed 3 gateways (GATEHOUSE_VIA_MAX_HOPS is 3)" in refused["json"]["error"]["message"]
