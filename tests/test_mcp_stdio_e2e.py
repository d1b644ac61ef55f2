"""`manage.py mcp_stdio` as a real subprocess, driven by the official SDK's stdio client, against a real Gatehouse."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from tests.processes import ROOT
from tests.published import upstream_published

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _bridge(gateway: str, *, token: str, slug: str = "desk", extra: tuple[str, ...] = ()) -> StdioServerParameters:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "GATEHOUSE_TOKEN": token}
    return StdioServerParameters(
        command=sys.executable, args=["manage.py", "mcp_stdio", "--server", slug, "--url", gateway, *extra],
        env=env, cwd=str(ROOT),
    )


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


async def _refusal(parameters: StdioServerParameters, errlog) -> MCPError:
    """The error the client gets at ``initialize`` (the SDK raises it inside an exception group)."""
    errors: list[MCPError] = []
    try:
        async with Client(stdio_client(parameters, errlog=errlog), mode="legacy"):
            pass
    except* MCPError as group:
        errors.extend(_leaves(group))
    assert errors, "the bridge let the session open"
    return errors[0]


@pytest.fixture
def desk(upstream_process, gateway):
    return upstream_published(email="desk-owner@example.com", url=upstream_process.url, server_slug="desk")


async def test_sdk_stdio_client_lists_and_calls_tools_through_the_bridge(desk, gateway, tmp_path: Path):
    stderr = tmp_path / "bridge.err"
    with stderr.open("w") as errlog:
        async with Client(stdio_client(_bridge(gateway, token=desk.token), errlog=errlog), mode="legacy") as client:
            assert client.protocol_version == "2025-11-25"
            names = sorted(tool.name for tool in (await client.list_tools()).tools)
            assert names == ["fixture__add", "fixture__echo", "fixture__fail", "fixture__slow"]
            echoed = await client.call_tool("fixture__echo", {"text": "über the bridge\nline two"})
            assert echoed.is_error is False
            assert echoed.content[0].text == "über the bridge\nline two"
            added = await client.call_tool("fixture__add", {"a": 2, "b": 40})
            assert added.structured_content == {"result": 42}
    assert desk.token not in stderr.read_text()


async def test_token_file_is_read(desk, gateway, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(desk.token + "\n")
    parameters = _bridge(gateway, token="", extra=("--token-file", str(token_file)))
    with (tmp_path / "bridge.err").open("w") as errlog:
        async with Client(stdio_client(parameters, errlog=errlog), mode="legacy") as client:
            assert (await client.call_tool("fixture__add", {"a": 1, "b": 1})).structured_content == {"result": 2}


async def test_bad_token_is_a_json_rpc_error_to_the_client_and_a_clear_line_on_stderr(desk, gateway, tmp_path: Path):
    stderr = tmp_path / "bridge.err"
    with stderr.open("w") as errlog:
        refused = await _refusal(_bridge(gateway, token="gth_not-a-real-token"), errlog)
    assert "HTTP 401" in refused.error.message
    logged = stderr.read_text()
    assert "Gatehouse answered HTTP 401" in logged
    assert "token was refused" in logged
    assert "gth_not-a-real-token" not in logged


async def test_unknown_server_is_a_json_rpc_error(desk, gateway, tmp_path: Path):
    with (tmp_path / "bridge.err").open("w") as errlog:
        refused = await _refusal(_bridge(gateway, token=desk.token, slug="nope"), errlog)
    assert "Unknown server" in refused.error.message


def test_missing_token_and_remote_plain_http_are_refused_before_starting():
    env = {k: v for k, v in os.environ.items() if k != "GATEHOUSE_TOKEN"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    command = [sys.executable, "manage.py", "mcp_stdio", "--server", "desk"]
    missing = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert missing.returncode == 1
    assert "No token" in missing.stderr and missing.stdout == ""

    env["GATEHOUSE_TOKEN"] = "gth_whatever"
    remote = subprocess.run(
        [*command, "--url", "http://gatehouse.example.com"], cwd=ROOT, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60,
    )
    assert remote.returncode == 1
    assert "plain http" in remote.stderr and remote.stdout == ""


def _bound_conformance_server(url: str) -> str:
    from catalog import services as catalog_services
    from catalog.models import Tool, Upstream
    from tests.factories import UserFactory
    from tokens import services as token_services

    owner = UserFactory(email="desk-sampling@example.com")
    upstream = catalog_services.upstream_create(
        owner=owner, name="bound", url=url, timeout_seconds=10,
        session_binding=Upstream.SessionBinding.CLIENT_SESSION,
    )
    assert catalog_services.upstream_discover(upstream=upstream).ok
    catalog_services.server_create(
        owner=owner, slug="asks", tools=[(tool, "") for tool in Tool.objects.filter(upstream=upstream)],
    )
    return token_services.token_create(user=owner, name="asks")[1]


async def test_server_to_client_requests_cross_the_bridge_and_the_answer_goes_back(
    conformance_upstream, gateway, tmp_path: Path,
):
    from mcp import types

    token = await sync_to_async(_bound_conformance_server)(conformance_upstream.url)
    asked: list[str] = []

    async def sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="forty-two"), model="test-model",
        )

    parameters = _bridge(gateway, token=token, slug="asks", extra=("--log-level", "INFO"))
    with (tmp_path / "bridge.err").open("w") as errlog:
        async with Client(stdio_client(parameters, errlog=errlog), mode="legacy", sampling_callback=sampling) as client:
            result = await client.call_tool("bound__test_sampling", {"prompt": "the answer?"})
    assert asked == ["the answer?"]
    assert result.content[0].text == "LLM response: forty-two"
    logged = (tmp_path / "bridge.err").read_text()
    assert "Listening on the session's GET stream" in logged  # the gateway's standing stream is followed too
    assert token not in logged
