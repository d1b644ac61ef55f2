"""The authorization matrix: every management endpoint and every MCP method × every kind of actor → the outcome.

The tables are the specification. ``test_every_api_route_is_in_the_matrix`` walks the URL resolver and
``test_every_mcp_method_is_in_the_matrix`` walks the MCP method table, so a new endpoint or method that nobody put
in the matrix fails the suite; each actor then runs every row against the real stack (DRF through the Django test
client, MCP through the real ASGI application and the real fixture upstream).

Actors are bearer tokens (anonymous has none), so the same actor reaches both the API and MCP. The subject of
every row belongs to the team "platform" (team-visible), owned by its owner; the team also has a viewer, a
developer (``teammate``) and an admin. Forbidden looks like missing: 404 on objects, absent from lists.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from proxy.tests.conftest import closed_pool  # noqa: F401 - a fixture
from teams import roles, services as team_services
from teams.models import Invitation, Membership, Role
from tests.factories import MembershipFactory, PromptFactory, ResourceFactory, ToolFactory, UpstreamFactory, UserFactory
from tests.factories import TeamFactory, VirtualServerFactory
from tokens.authentication import credential_admit, credential_check
from tokens.client import Client
from tokens.models import ApiToken
from tokens.services import token_create, token_revoke

API = "/api/v1/"

# --- actors --------------------------------------------------------------------------------------------------------

GOOD = ["outsider", "viewer", "developer", "team_admin", "platform_admin", "permission_scoped"]
UNAUTHENTICATED = ["anonymous", "expired", "revoked", "wrong_ip", "outside_window", "over_quota"]
ACTORS = [*GOOD, "server_scoped", *UNAUTHENTICATED]
READ_ONLY = [roles.TOOLS_READ, roles.RESOURCES_READ, roles.PROMPTS_READ, roles.SERVERS_READ, roles.SERVERS_USE,
             roles.UPSTREAMS_READ]


def _window_excluding_now() -> list[dict]:
    now = timezone.now()
    return [{"start": f"{now + timedelta(hours=2):%H:%M}", "end": f"{now + timedelta(hours=3):%H:%M}"}]


def make_users(*, team, owner, teammate, outsider, admin_user) -> dict:
    viewer = UserFactory(email="viewer@example.com")
    MembershipFactory(user=viewer, team=team, role=Membership.Role.VIEWER)
    team_admin = UserFactory(email="team-admin@example.com")
    MembershipFactory(user=team_admin, team=team, role=Membership.Role.ADMIN)
    return {"owner": owner, "outsider": outsider, "viewer": viewer, "developer": teammate,
            "team_admin": team_admin, "platform_admin": admin_user}


def make_tokens(users: dict, *, server) -> dict:
    """A bearer token per actor, created as its user would create it (after the user's teams exist: a token's
    team claim is the user's teams at creation)."""
    owner = users["owner"]
    tokens = {name: token_create(user=user, name=name)[1] for name, user in users.items() if name != "owner"}
    tokens["anonymous"] = None
    tokens["permission_scoped"] = token_create(user=owner, name="read-only", permissions=READ_ONLY)[1]
    tokens["server_scoped"] = token_create(user=owner, name="one server", servers=[server])[1]
    expired, tokens["expired"] = token_create(user=owner, name="expired")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked, tokens["revoked"] = token_create(user=owner, name="revoked")
    token_revoke(token=revoked, actor=owner)
    tokens["wrong_ip"] = token_create(user=owner, name="office", ip_ranges=["10.0.0.0/8"])[1]
    tokens["outside_window"] = token_create(user=owner, name="later", time_windows=_window_excluding_now())[1]
    tokens["over_quota"] = token_create(user=owner, name="one call", quota_calls=1)[1]
    # Its one call, spent.
    credential_admit(credential_check(tokens["over_quota"]), client=Client("10.1.1.1"))
    return tokens


# --- the management API matrix ---------------------------------------------------------------------------------------

SEES, HIDDEN = "sees", "hidden"


@dataclass
class Row:
    method: str
    # Builds (url, body, id to look for in a list) from the world; may create what a destructive row consumes.
    target: Callable[[dict], tuple[str, dict | None, int | None]]
    # Outcome for each good actor: a status code, or SEES / HIDDEN for lists. Missing actors get ``otherwise``.
    outcomes: dict[str, int | str | set[int]]
    otherwise: int | str | set[int] = 404
    server_scoped: int = 403
    unauthenticated: int = 401
    note: str = ""
    extra: dict = field(default_factory=dict)

    def expected(self, actor: str):
        if actor == "server_scoped":
            return self.server_scoped
        if actor in UNAUTHENTICATED:
            return self.unauthenticated
        return self.outcomes.get(actor, self.otherwise)


TEAM_READERS = ["viewer", "developer", "team_admin", "platform_admin", "permission_scoped"]
MANAGERS = ["team_admin", "platform_admin"]
EVERYONE = GOOD


def reads(status=200) -> dict:
    return {actor: status for actor in TEAM_READERS}


def sees(actors) -> dict:
    return {actor: SEES for actor in actors}


def manage(status) -> dict:
    return {actor: status for actor in MANAGERS}


# The read-only token asking for what its scope leaves out: 403 insufficient_scope, decided from the endpoint and the
# method alone before any object is looked up (so it is the same answer for any id, and reveals nothing).
BEYOND_SCOPE = {"permission_scoped": 403}


def creators(status, *, except_=("permission_scoped",), refused=403) -> dict:
    return {actor: (refused if actor in except_ else status) for actor in EVERYONE}


def _list(kind):
    return lambda w: (f"{API}{kind}/", None, w[kind].pk)


def _detail(kind, body=None):
    return lambda w: (f"{API}{kind}/{w[kind].pk}/", body, None)


def _fresh(kind, make, body=None, suffix=""):
    def target(w):
        return f"{API}{kind}/{make(w).pk}/{suffix}", body, None
    return target


def _fresh_server(w):
    return VirtualServerFactory(owner=w["users"]["owner"], team=w["team"], visibility="team")


def _spare_team(key):
    return lambda w: w["spare_teams"].pop(key)


def make_team_like_platform(users):
    team = TeamFactory()
    for role_name, role in [("owner", "owner"), ("viewer", "viewer"), ("developer", "developer"),
                            ("team_admin", "admin")]:
        MembershipFactory(user=users[role_name], team=team, role=role)
    return team


def _fresh_member(w):
    return MembershipFactory(user=UserFactory(), team=w["team"], role="developer")


def _connection(user):
    from catalog.credentials import connection_tokens_seal
    from catalog.models import UpstreamConnection

    upstream = UpstreamFactory(owner=user, auth_type="oauth_user")
    return UpstreamConnection.objects.create(
        user=user, upstream=upstream, tokens_sealed=connection_tokens_seal("access", "refresh"),
        issuer="https://as.example.com", token_endpoint="https://as.example.com/token", client_id="gatehouse",
        resource=upstream.url,
    )


def _fresh_team_token(w):
    return token_create(user=w["users"]["owner"], name="team token", team=w["team"])[0]


def _invitation(w, email="invitee@example.com"):
    return team_services.invitation_create(team=w["team"], email=email, actor=w["users"]["owner"])


CATALOG_ROWS = {}
for kind, patch in [("tools", {"enabled": False}), ("resources", {"enabled": False}),
                    ("resource-templates", {"enabled": False}), ("prompts", {"enabled": False})]:
    singular = kind[:-1]
    CATALOG_ROWS[f"{singular}-list"] = [Row("GET", _list(kind), sees(TEAM_READERS), otherwise=HIDDEN)]
    CATALOG_ROWS[f"{singular}-detail"] = [
        Row("GET", _detail(kind), reads()), Row("PATCH", _detail(kind, patch), {**manage(200), **BEYOND_SCOPE})]

MATRIX: dict[str, list[Row]] = {
    **CATALOG_ROWS,
    "upstream-list": [
        Row("GET", _list("upstreams"), sees(TEAM_READERS), otherwise=HIDDEN),
        Row("POST", lambda w: (f"{API}upstreams/", {"name": "new", "url": w["dead_url"]}, None), creators(201)),
    ],
    "upstream-detail": [
        Row("GET", _detail("upstreams"), reads()),
        Row("PATCH", _detail("upstreams", {"timeout_seconds": 9}), {**manage(200), **BEYOND_SCOPE}),
    ],
    "upstream-discover": [Row("POST", lambda w: (f"{API}upstreams/{w['upstreams'].pk}/discover/", None, None),
                              {**manage(502), **BEYOND_SCOPE}, note="allowed reaches the (dead) upstream")],
    "upstream-rest-tools": [Row("POST", lambda w: (f"{API}upstreams/{w['upstreams'].pk}/rest-tools/",
                                                   {"name": "x", "path": "/x"}, None),
                                {**manage(400), **BEYOND_SCOPE},
                                note="allowed reaches the service: this upstream is not a REST one")],
    "server-list": [
        Row("GET", _list("servers"), sees(TEAM_READERS), otherwise=HIDDEN),
        Row("POST", lambda w: (f"{API}servers/", {"slug": "brand-new"}, None), creators(201)),
    ],
    "server-detail": [
        Row("GET", _detail("servers"), reads()),
        Row("PATCH", _detail("servers", {"description": "changed"}), {**manage(200), **BEYOND_SCOPE}),
        Row("DELETE", _fresh("servers", _fresh_server), {**manage(204), **BEYOND_SCOPE}),
    ],
    # The subject is a team token the owner created: team managers see and revoke it; the owner's read-only
    # token sees its user's token but may not revoke it.
    "token-list": [
        Row("GET", _list("tokens"), sees([*MANAGERS, "permission_scoped"]), otherwise=HIDDEN),
        Row("POST", lambda w: (f"{API}tokens/", {"name": "new"}, None), creators(201)),
    ],
    "token-detail": [
        Row("GET", _detail("tokens"), {**manage(200), "permission_scoped": 200}),
        Row("DELETE", _fresh("tokens", _fresh_team_token), manage(204)),
    ],
    "token-revoke": [Row("POST", _fresh("tokens", _fresh_team_token, suffix="revoke/"), manage(200))],
    "token-usage": [Row("GET", lambda w: (f"{API}tokens/{w['tokens'].pk}/usage/", None, None),
                        {**manage(200), "permission_scoped": 200})],
    "team-list": [
        Row("GET", _list("teams"), sees(TEAM_READERS), otherwise=HIDDEN),
        Row("POST", lambda w: (f"{API}teams/", {"name": "Fresh team"}, None), creators(201)),
    ],
    "team-detail": [
        Row("GET", _detail("teams"), reads()),
        Row("PATCH", _detail("teams", {"name": "Renamed"}), manage(200)),
        Row("DELETE", _fresh("teams", _spare_team("delete")), manage(204)),
    ],
    "team-leave": [Row("POST", _fresh("teams", _spare_team("leave"), suffix="leave/"),
                       {"viewer": 204, "developer": 204, "team_admin": 204, "permission_scoped": 400},
                       note="members leave; the owner is the last owner")],
    "membership-list": [Row("GET", _list("memberships"), sees(TEAM_READERS), otherwise=HIDDEN)],
    "membership-detail": [
        Row("GET", _detail("memberships"), reads()),
        Row("PATCH", _detail("memberships", {"role": "viewer"}), manage(200)),
        Row("DELETE", _fresh("memberships", _fresh_member), manage(204)),
    ],
    "invitation-list": [
        Row("GET", _list("invitations"), sees(MANAGERS), otherwise=HIDDEN),
        Row("POST", lambda w: (f"{API}invitations/", {"team": w["team"].pk, "email": "new@example.com"}, None),
            {**creators(400), **manage(201)}, note="a team you do not manage is an unknown team"),
    ],
    "invitation-detail": [
        Row("GET", _detail("invitations"), manage(200)),
        Row("DELETE", _fresh("invitations", lambda w: _invitation(w, "other@example.com")[0]), manage(204)),
    ],
    "invitation-accept": [Row("POST", lambda w: (f"{API}invitations/accept/", {"token": w["outsider_invite"]}, None),
                              {"outsider": 201}, otherwise=400, note="only the invited email may accept")],
    "role-list": [
        Row("GET", _list("roles"), sees(EVERYONE), otherwise=HIDDEN),
        Row("POST", lambda w: (f"{API}roles/", {"name": "auditor", "permissions": ["tools.read"]}, None),
            {"platform_admin": 201}, otherwise=403),
    ],
    "role-detail": [
        Row("GET", _detail("roles"), {actor: 200 for actor in EVERYONE}),
        Row("PATCH", _detail("roles", {"description": "changed"}), {"platform_admin": 200}),
        Row("DELETE", _fresh("roles", lambda w: Role.objects.create(name="temporary")), {"platform_admin": 204}),
    ],
    "user-list": [Row("GET", lambda w: (f"{API}users/", None, w["target_user"].pk),
                      {**sees(["platform_admin"]), **BEYOND_SCOPE}, otherwise=HIDDEN)],
    "user-detail": [
        Row("GET", lambda w: (f"{API}users/{w['target_user'].pk}/", None, None), {"platform_admin": 200, **BEYOND_SCOPE}),
        Row("PATCH", lambda w: (f"{API}users/{w['target_user'].pk}/", {"full_name": "Dev"}, None),
            {"platform_admin": 200, **BEYOND_SCOPE}),
    ],
    "user-platform-role": [Row("POST", lambda w: (f"{API}users/{w['target_user'].pk}/platform-role/",
                                                  {"role": "viewer"}, None), {"platform_admin": 200, **BEYOND_SCOPE})],
    "me": [Row("GET", lambda w: (f"{API}me/", None, None), {actor: 200 for actor in EVERYONE})],
    # A user's own upstream OAuth connections: the subject is the owner's, whose only token among the actors is the
    # permission-scoped one; everyone else (platform admins too) sees nothing. A permission-scoped token only reads.
    "upstream-connection-list": [
        Row("GET", lambda w: (f"{API}me/upstream-connections/", None, w["connection"].pk),
            {"permission_scoped": SEES}, otherwise=HIDDEN),
    ],
    "upstream-connection-detail": [
        Row("GET", lambda w: (f"{API}me/upstream-connections/{w['connection'].pk}/", None, None),
            {"permission_scoped": 200}),
        Row("DELETE", _fresh("me/upstream-connections", lambda w: _connection(w["users"]["owner"])),
            {"permission_scoped": 403}),
    ],
    "schema": [Row("GET", lambda w: (f"{API}schema/", None, None), {actor: 200 for actor in EVERYONE})],
    "swagger-ui": [Row("GET", lambda w: (f"{API}docs/", None, None), {actor: 200 for actor in EVERYONE})],
}


def api_route_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                if "format" in str(pattern.pattern):
                    continue  # a router's ".json" suffix variant of a listed route
                names.add(pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_every_api_route_is_in_the_matrix():
    routes = api_route_names()
    assert routes - set(MATRIX) == set(), "a new /api/v1/ route is not in the authorization matrix"
    assert set(MATRIX) - routes == set(), "the matrix lists a route that no longer exists"


@pytest.fixture
def world(db, team, owner, teammate, outsider, admin_user):
    upstream = UpstreamFactory(owner=owner, team=team, visibility="team")
    from catalog.models import ResourceTemplate

    w = {
        "team": team,
        "upstreams": upstream,
        "tools": ToolFactory(upstream=upstream),
        "resources": ResourceFactory(upstream=upstream),
        "resource-templates": ResourceTemplate.objects.create(
            upstream=upstream, owner=owner, team=team, visibility="team", uri_template="fixture://items/{id}",
            name="item"),
        "prompts": PromptFactory(upstream=upstream),
        "servers": VirtualServerFactory(owner=owner, team=team, visibility="team", slug="matrix"),
        "teams": team,
        "memberships": Membership.objects.get(team=team, user=teammate),
        "roles": Role.objects.create(name="runner", permissions=["tools.read", "tools.execute"]),
        "dead_url": "http://127.0.0.1:9/mcp",
    }
    w["users"] = make_users(team=team, owner=owner, teammate=teammate, outsider=outsider, admin_user=admin_user)
    # Teams a destructive row consumes; made before the tokens, so they are within the tokens' team claims.
    w["spare_teams"] = {key: make_team_like_platform(w["users"]) for key in ("delete", "leave")}
    w["tokens_by_actor"] = make_tokens(w["users"], server=w["servers"])
    w["tokens"] = token_create(user=owner, name="team token", team=team)[0]
    w["invitations"], _ = _invitation(w)
    _, w["outsider_invite"] = _invitation(w, "outsider@example.com")
    w["target_user"] = teammate
    w["connection"] = _connection(owner)
    _connection(teammate)  # another user's connection, never in anyone else's answers
    return w


def _outcome(response, expected, look_for):
    if expected in (SEES, HIDDEN):
        if response.status_code != 200:
            return response.status_code
        ids = {item["id"] for item in response.json()["results"]}
        return SEES if look_for in ids else HIDDEN
    return response.status_code


@pytest.mark.parametrize("actor", ACTORS)
def test_management_api(world, actor):
    raw = world["tokens_by_actor"][actor]
    failures = []
    for name, rows in MATRIX.items():
        for row in rows:
            client = APIClient()
            if raw:
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
            url, body, look_for = row.target(world)
            response = getattr(client, row.method.lower())(url, body, format="json")
            expected = row.expected(actor)
            got = _outcome(response, expected, look_for)
            if got != expected:
                failures.append(
                    f"{row.method} {url} ({name}): expected {expected}, got {got} {response.content[:200]!r}")
    assert not failures, f"{actor}:\n" + "\n".join(failures)


# --- the MCP matrix ------------------------------------------------------------------------------------------------

OK, EMPTY, UNKNOWN, UNSUBSCRIBABLE = "ok", "empty", "unknown", "unsubscribable"

MCP_CALLS: dict[str, dict | None] = {
    "initialize": None,  # sent by Gateway.initialize
    "ping": {},
    "tools/list": {},
    "tools/call": {"name": "fixture__echo", "arguments": {"text": "hi"}},
    "prompts/list": {},
    "prompts/get": {"name": "fixture__summarize", "arguments": {"topic": "gates"}},
    "resources/list": {},
    "resources/templates/list": {},
    "resources/read": {"uri": "fixture://greeting"},
    "completion/complete": {"ref": {"type": "ref/prompt", "name": "fixture__summarize"},
                            "argument": {"name": "topic", "value": "g"}},
    "logging/setLevel": {"level": "info"},
    # The fixture upstream is pooled: subscriptions are refused (-32601) for everyone who may read the resource.
    "resources/subscribe": {"uri": "fixture://greeting"},
    "resources/unsubscribe": {"uri": "fixture://greeting"},
}
LISTED = {"tools/list": "tools", "prompts/list": "prompts", "resources/list": "resources",
          "resources/templates/list": "resourceTemplates"}

EVERYTHING = {method: OK for method in MCP_CALLS} | {
    "resources/subscribe": UNSUBSCRIBABLE, "resources/unsubscribe": UNSUBSCRIBABLE,
}
# Without tools.execute a tool is neither listed nor callable on MCP; everything else is readable.
NO_EXECUTE = {**EVERYTHING, "tools/list": EMPTY, "tools/call": UNKNOWN}

MCP_MATRIX: dict[str, dict[str, str | int]] = {
    "outsider": {method: 404 for method in MCP_CALLS},  # a team server is unknown to outsiders
    "viewer": NO_EXECUTE,
    "developer": EVERYTHING,
    "team_admin": EVERYTHING,
    "platform_admin": EVERYTHING,
    "permission_scoped": NO_EXECUTE,
    "server_scoped": EVERYTHING,  # this is its server
    **{actor: {method: 401 for method in MCP_CALLS} for actor in UNAUTHENTICATED},
}

BLOCKED_REASONS = {
    "expired": "Invalid, expired or revoked token.",
    "revoked": "Invalid, expired or revoked token.",
    "wrong_ip": "This token may not be used from this address.",
    "outside_window": "This token may not be used at this time.",
    "over_quota": "This token's usage quota is exhausted.",
}


def test_every_mcp_method_is_in_the_matrix():
    from proxy.protocol.handlers import HANDLERS

    assert set(MCP_CALLS) == {"initialize", *HANDLERS}, "an MCP method is missing from the authorization matrix"
    assert set(MCP_MATRIX) == set(ACTORS)


def _mcp_outcome(response, method: str):
    if response["status"] != 200:
        return response["status"]
    message = response["json"]
    if "error" in message:
        if message["error"]["code"] == -32601 and "not bound per client session" in message["error"]["message"]:
            return UNSUBSCRIBABLE
        return UNKNOWN if message["error"]["code"] == -32602 else f"error {message['error']}"
    if method in LISTED and not message["result"][LISTED[method]]:
        return EMPTY
    return OK


@pytest.fixture
def mcp_world(transactional_db, upstream_process, team, owner, teammate, outsider, admin_user, closed_pool):
    from catalog import services as catalog_services
    from catalog.models import Prompt, Resource, Tool

    upstream = catalog_services.upstream_create(owner=owner, name="fixture", url=upstream_process.url,
                                                team=team, visibility="team", timeout_seconds=5)
    assert catalog_services.upstream_discover(upstream=upstream).ok
    entries = {model: [(entry, "") for entry in model.objects.filter(upstream=upstream)]
               for model in (Tool, Prompt, Resource)}
    server = catalog_services.server_create(owner=owner, slug="demo", team=team, visibility="team",
                                            tools=entries[Tool], prompts=entries[Prompt], resources=entries[Resource])
    users = make_users(team=team, owner=owner, teammate=teammate, outsider=outsider, admin_user=admin_user)
    return make_tokens(users, server=server)


@pytest.mark.parametrize("actor", ACTORS)
async def test_mcp(mcp_world, actor):
    from asgiref.sync import sync_to_async

    from proxy.tests.conftest import Gateway
    from tokens.models import TokenUsage
    from tokens.usage import usage_flush

    gateway = Gateway("/servers/demo/mcp", mcp_world[actor])
    failures = []
    for method, params in MCP_CALLS.items():
        if method == "initialize":
            response = await gateway.initialize()
        else:
            response = await gateway.send(gateway.request(method, params))
        got, expected = _mcp_outcome(response, method), MCP_MATRIX[actor][method]
        if got != expected:
            failures.append(f"{method}: expected {expected}, got {got} {response['body'][:200]!r}")
    assert not failures, f"{actor}:\n" + "\n".join(failures)
    if actor in BLOCKED_REASONS:
        await usage_flush()
        reasons = await sync_to_async(list)(
            TokenUsage.objects.filter(outcome="blocked", method="mcp").values_list("reason", flat=True))
        assert BLOCKED_REASONS[actor] in reasons


@pytest.mark.parametrize("actor", ["developer", *UNAUTHENTICATED])
async def test_legacy_sse_and_websocket_apply_the_same_refusals(mcp_world, actor):
    """The connection-bound transports authenticate through the same access check: out-of-scope tokens are
    refused at the handshake, in-scope ones connect."""
    from proxy.tests.streams import SseStream, websocket

    stream = SseStream("/servers/demo/sse", mcp_world[actor])
    status = await stream.open()
    communicator = websocket("/servers/demo/ws", mcp_world[actor], subprotocols=["mcp"])
    connected, _ = await communicator.connect(timeout=10)
    if actor == "developer":
        assert (status, connected) == (200, True)
        await stream.close()
        await communicator.disconnect()
    else:
        assert (status, connected) == (401, False)
