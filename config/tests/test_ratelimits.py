"""Rate limits: login (per IP, per account), the API (per user, per IP, token creation) and MCP (per token, per
tool, in flight). Over a limit: 429 with Retry-After, or a JSON-RPC error with retryAfterSeconds; limits recover."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest
from django.core.cache import cache

from config.ratelimits import window_hit
from proxy.tests.conftest import Gateway, catalog, closed_pool, gateway  # noqa: F401 - fixtures
from tests.processes import ROOT
from tokens import services as token_services

API = "/api/v1"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def _clear_of_window_end(period: int, room: float) -> None:
    """Limits count in fixed windows aligned to the clock: wait, if need be, until the next ``room`` seconds fall in
    one window, so a test's hits are not split by a window turning over."""
    left = period - time.time() % period
    if left < room:
        time.sleep(left + 0.01)


def _login(client, username: str, password: str = "wrong-password"):
    return client.post("/accounts/login/", {"login": username, "password": password})


@pytest.mark.django_db
def test_admin_login_is_limited_per_account_with_retry_after(client, admin_user, settings):
    settings.GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT = "3/m"
    _clear_of_window_end(60, 15)
    for _ in range(3):
        assert _login(client, admin_user.email).status_code == 200  # the form again, with an error
    refused = _login(client, admin_user.email.upper())  # another spelling is the same account
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Even the right password waits: the limit is checked before the password.
    assert _login(client, admin_user.email, "admin-password-for-tests").status_code == 429
    assert _login(client, "someone-else@example.com").status_code == 200


@pytest.mark.django_db
def test_admin_login_is_limited_per_client_ip(client, settings):
    settings.GATEHOUSE_LOGIN_RATE_LIMIT_IP = "2/m"
    _clear_of_window_end(60, 15)
    assert _login(client, "a@example.com").status_code == 200
    assert _login(client, "b@example.com").status_code == 200
    assert _login(client, "c@example.com").status_code == 429
    assert client.get("/accounts/login/").status_code == 200  # viewing the form is not an attempt


@pytest.mark.django_db
def test_api_is_limited_per_user_with_retry_after(client, owner, settings):
    settings.GATEHOUSE_API_RATE_LIMIT_USER = "3/m"
    _clear_of_window_end(60, 15)
    _, secret = token_services.token_create(user=owner, name="api")
    _, other = token_services.token_create(user=owner, name="api-2")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    for _ in range(3):
        assert client.get(f"{API}/tools/", **auth).status_code == 200
    refused = client.get(f"{API}/tools/", HTTP_AUTHORIZATION=f"Bearer {other}")  # same user, other token
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


@pytest.mark.django_db
def test_api_is_limited_per_client_ip_across_users(client, owner, outsider, settings):
    settings.GATEHOUSE_API_RATE_LIMIT_IP = "2/m"
    _clear_of_window_end(60, 15)
    secrets = [token_services.token_create(user=user, name="ip")[1] for user in (owner, outsider, owner)]
    statuses = [client.get(f"{API}/tools/", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code for secret in secrets]
    assert statuses == [200, 200, 429]


@pytest.mark.django_db
def test_token_creation_has_its_own_tighter_limit(client, owner, settings):
    settings.GATEHOUSE_TOKEN_CREATE_RATE_LIMIT = "2/h"
    _clear_of_window_end(3600, 75)  # and Retry-After stays above a minute
    _, secret = token_services.token_create(user=owner, name="creator")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    for n in range(2):
        assert client.post(f"{API}/tokens/", {"name": f"t{n}"}, content_type="application/json", **auth).status_code == 201
    refused = client.post(f"{API}/tokens/", {"name": "t3"}, content_type="application/json", **auth)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
    assert client.get(f"{API}/tokens/", **auth).status_code == 200  # listing is not creating


def test_a_window_recovers_on_its_own():
    key = f"test:{uuid.uuid4()}"
    _clear_of_window_end(1, 1)
    assert window_hit(key, 2, 1) is None and window_hit(key, 2, 1) is None
    assert window_hit(key, 2, 1) == 1
    time.sleep(1.05)
    assert window_hit(key, 2, 1) is None


def _rpc_error(response) -> dict | None:
    return (response["json"] or {}).get("error")


async def test_mcp_requests_are_limited_per_token(gateway, settings):
    settings.GATEHOUSE_MCP_RATE_LIMIT = "4/m"
    await gateway.initialize()
    await asyncio.to_thread(_clear_of_window_end, 60, 15)
    for _ in range(4):
        assert _rpc_error(await gateway.send(gateway.request("tools/list"))) is None
    error = _rpc_error(await gateway.send(gateway.request("tools/list")))
    assert error["code"] == -32029
    assert 1 <= error["data"]["retryAfterSeconds"] <= 60 and error["data"]["scope"] == "requests per token"


async def test_mcp_tool_limit_counts_each_tool_separately(gateway, settings):
    settings.GATEHOUSE_MCP_TOOL_RATE_LIMIT = "2/m"
    await gateway.initialize()
    await asyncio.to_thread(_clear_of_window_end, 60, 15)

    async def call(tool: str, arguments: dict) -> dict | None:
        return _rpc_error(await gateway.send(gateway.request("tools/call", {"name": tool, "arguments": arguments})))

    assert await call("fixture__echo", {"text": "1"}) is None
    assert await call("fixture__echo", {"text": "2"}) is None
    assert (await call("fixture__echo", {"text": "3"}))["data"]["scope"] == "calls of fixture__echo per token"
    assert await call("fixture__add", {"a": 1, "b": 2}) is None


async def test_mcp_concurrent_calls_per_token_are_capped_and_released(gateway, settings):
    settings.GATEHOUSE_MCP_MAX_CONCURRENT = 1
    await gateway.initialize()
    slow = gateway.request("tools/call", {"name": "fixture__slow", "arguments": {"seconds": 1.0}})
    quick = gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "x"}})
    first = asyncio.create_task(gateway.send(slow))
    await asyncio.sleep(0.3)
    refused = _rpc_error(await gateway.send(quick))
    assert refused["code"] == -32029 and refused["data"]["scope"] == "concurrent calls per token"
    assert _rpc_error(await first) is None
    assert _rpc_error(await gateway.send(gateway.request("tools/call", quick["params"]))) is None  # slot given back


async def test_mcp_limit_recovers_on_its_own(gateway, settings):
    settings.GATEHOUSE_MCP_RATE_LIMIT = "2/s"
    await gateway.initialize()
    await asyncio.to_thread(_clear_of_window_end, 1, 1)
    outcomes = [_rpc_error(await gateway.send(gateway.request("ping"))) for _ in range(3)]
    assert outcomes[2] is not None and outcomes[2]["code"] == -32029
    await asyncio.sleep(1.1)
    assert _rpc_error(await gateway.send(gateway.request("ping"))) is None


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL: the limit must hold across processes")
def test_limits_hold_across_processes_with_redis():
    key = f"test:{uuid.uuid4()}"
    _clear_of_window_end(60, 30)
    other_process = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from config.ratelimits import window_hit; "
         f"print([window_hit('{key}', 3, 60) for _ in range(3)])"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    assert other_process.stdout.strip() == "[None, None, None]", other_process.stderr
    assert window_hit(key, 3, 60) is not None
