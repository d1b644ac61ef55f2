"""A local command speaking MCP over stdio as an upstream: discovered, called, its stderr logged, its process reaped."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest
from asgiref.sync import sync_to_async

from catalog import services as catalog_services
from catalog.models import Tool
from proxy.tests.conftest import Gateway
from proxy.upstream.pool import upstream_pool_close
from tests.factories import UserFactory
from tests.processes import FIXTURE_SERVER
from tokens import services as token_services

pytestmark = pytest.mark.django_db(transaction=True)


def _stdio_catalog(label: str) -> tuple[str, object]:
    owner = UserFactory(email="stdio@example.com")
    upstream = catalog_services.upstream_create(
        owner=owner,
        name="local tool",
        slug="local",
        transport="stdio",
        command=sys.executable,
        args=[str(FIXTURE_SERVER), "--transport", "stdio", "--label", label],
        env={"FIXTURE_API_KEY": "stdio-secret-value"},
        timeout_seconds=20,
    )
    report = catalog_services.upstream_discover(upstream=upstream)
    assert report.ok, report.error
    catalog_services.server_create(
        owner=owner, slug="local", tools=[(tool, "") for tool in Tool.objects.filter(upstream=upstream)]
    )
    return token_services.token_create(user=owner, name="stdio")[1], upstream


def _running(label: str) -> bool:
    return subprocess.run(["pgrep", "-f", label], capture_output=True).returncode == 0


async def test_stdio_upstream_is_called_logged_and_reaped(caplog):
    label = f"stdio-{uuid.uuid4().hex}"
    token, upstream = await sync_to_async(_stdio_catalog)(label)
    assert "stdio-secret-value" not in upstream.env_sealed
    assert not _running(label)  # discovery's own child is gone

    gateway = Gateway("/servers/local/mcp", token)
    await gateway.initialize()
    caplog.set_level("INFO", logger="gatehouse.stdio.local")
    response = await gateway.send(gateway.request("tools/call", {"name": "local__add", "arguments": {"a": 20, "b": 22}}))
    assert response["json"]["result"]["structuredContent"] == {"result": 42}
    assert _running(label)
    assert f"fixture upstream {label} starting on stdio" in caplog.text

    await upstream_pool_close()
    assert not _running(label)


async def test_idle_stdio_process_is_stopped_and_started_again_on_the_next_call(settings):
    settings.GATEHOUSE_STDIO_IDLE_SECONDS = 0.3
    label = f"stdio-{uuid.uuid4().hex}"
    token, _ = await sync_to_async(_stdio_catalog)(label)
    gateway = Gateway("/servers/local/mcp", token)
    await gateway.initialize()
    add = gateway.request("tools/call", {"name": "local__add", "arguments": {"a": 1, "b": 2}})
    assert (await gateway.send(add))["json"]["result"]["structuredContent"] == {"result": 3}
    assert _running(label)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if not _running(label):
            break
    assert not _running(label)
    again = gateway.request("tools/call", {"name": "local__add", "arguments": {"a": 2, "b": 2}})
    assert (await gateway.send(again))["json"]["result"]["structuredContent"] == {"result": 4}
    await upstream_pool_close()


async def test_a_command_that_fails_to_start_is_retried_with_backoff():
    label = f"stdio-{uuid.uuid4().hex}"
    token, upstream = await sync_to_async(_stdio_catalog)(label)
    await sync_to_async(catalog_services.upstream_update)(
        upstream=upstream, actor=None, args=[str(FIXTURE_SERVER), "--transport", "no-such-transport"]
    )
    gateway = Gateway("/servers/local/mcp", token)
    await gateway.initialize()
    call = gateway.request("tools/call", {"name": "local__add", "arguments": {"a": 1, "b": 2}})
    first = (await gateway.send(call))["json"]["error"]
    assert first["code"] == -32000 and "local tool" in first["message"]
    second = (await gateway.send(call))["json"]["error"]
    assert second["code"] == -32000 and "failed to start; retrying in" in second["message"]
    await upstream_pool_close()


def test_stdio_upstreams_are_refused_when_switched_off(settings):
    settings.GATEHOUSE_STDIO_UPSTREAMS = False
    with pytest.raises(catalog_services.CatalogError, match="switched off"):
        catalog_services.upstream_create(
            owner=UserFactory(), name="nope", transport="stdio", command=sys.executable, args=["-V"]
        )


def test_production_settings_switch_stdio_upstreams_off():
    import os

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 10 + "production-secret-key-long-enough-for-the-check-0123456789",
        "ALLOWED_HOSTS": "example.com",
        "GATEHOUSE_ENCRYPTION_KEYS": "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "GATEHOUSE_TOKEN_PEPPERS": "p1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    }
    env.pop("GATEHOUSE_STDIO_UPSTREAMS", None)
    printed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.GATEHOUSE_STDIO_UPSTREAMS)"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert printed.stdout.strip() == "False"
