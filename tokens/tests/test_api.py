"""/api/v1/tokens/: your own tokens only; the secret is returned once, by create; DELETE revokes."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import VirtualServerFactory
from tokens.authentication import token_authenticate
from tokens.models import ApiToken
from tokens.services import token_create

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tokens/"


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def bearer_client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def created(owner):
    """A token created through the API: (response body, raw token)."""
    response = client_for(owner).post(TOKENS, {"name": "laptop"}, format="json")
    assert response.status_code == 201, response.content
    return response.json(), response.json()["token"]


def test_create_returns_the_token_once(created):
    body, raw = created
    assert raw.startswith("gth_")
    assert body["display"] == raw[:12] + "…"


def test_created_token_authenticates(created, owner):
    _, raw = created
    found, _ = token_authenticate(raw)
    assert found.user_id == owner.pk


def test_list_never_includes_the_token(created, owner):
    _, raw = created
    response = client_for(owner).get(TOKENS)
    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["laptop"]
    assert "token" not in response.json()["results"][0]
    assert raw[12:] not in response.content.decode()


def test_retrieve_never_includes_the_token(created, owner):
    body, raw = created
    response = client_for(owner).get(f"{TOKENS}{body['id']}/")
    assert response.status_code == 200
    assert "token" not in response.json()
    assert raw[12:] not in response.content.decode()


@pytest.mark.parametrize("actor", ["teammate", "outsider"])
def test_other_users_get_404_for_a_token(created, actor, request):
    body, _ = created
    other = request.getfixturevalue(actor)
    assert client_for(other).get(f"{TOKENS}{body['id']}/").status_code == 404


@pytest.mark.parametrize("actor", ["teammate", "outsider"])
def test_other_users_do_not_list_a_token(created, actor, request):
    other = request.getfixturevalue(actor)
    assert client_for(other).get(TOKENS).json()["results"] == []


def test_platform_admin_sees_every_token(created, admin_user):
    body, _ = created
    assert client_for(admin_user).get(f"{TOKENS}{body['id']}/").status_code == 200


def test_delete_revokes_the_token(created, owner):
    body, raw = created
    response = client_for(owner).delete(f"{TOKENS}{body['id']}/")
    assert response.status_code == 204
    assert token_authenticate(raw) is None
    assert ApiToken.objects.get(pk=body["id"]).revoked_at is not None


def test_outsider_cannot_revoke_anothers_token(created, outsider):
    body, raw = created
    assert client_for(outsider).delete(f"{TOKENS}{body['id']}/").status_code == 404
    assert token_authenticate(raw) is not None


def test_revoke_action_revokes_the_token(created, owner):
    body, raw = created
    response = client_for(owner).post(f"{TOKENS}{body['id']}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert token_authenticate(raw) is None


def test_create_restricted_to_a_server_the_user_may_use(owner):
    VirtualServerFactory(owner=owner, slug="demo")
    response = client_for(owner).post(TOKENS, {"name": "ci", "servers": ["demo"]}, format="json")
    assert response.status_code == 201
    assert response.json()["servers"] == ["demo"]


def test_create_refuses_a_server_the_user_may_not_use(owner, outsider):
    VirtualServerFactory(owner=owner, slug="private-demo")
    response = client_for(outsider).post(TOKENS, {"name": "ci", "servers": ["private-demo"]}, format="json")
    assert response.status_code == 400
    assert "private-demo" in str(response.json()["servers"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": ""}, "name"), ({"name": "x", "expires_days": 0}, "expires_days"), ({}, "name")],
)
def test_create_with_bad_input_is_400_with_a_reason(owner, payload, field):
    response = client_for(owner).post(TOKENS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_anonymous_request_is_401():
    assert client_for(None).get(TOKENS).status_code == 401


def test_unknown_bearer_token_is_401():
    assert bearer_client("gth_" + "a" * 8 + "b" * 43).get(TOKENS).status_code == 401


def test_unrestricted_bearer_token_reaches_the_management_api(owner):
    _, raw = token_create(user=owner, name="cli")
    response = bearer_client(raw).get(TOKENS)
    assert response.status_code == 200


def test_server_restricted_bearer_token_gets_403_on_the_management_api(owner):
    _, raw = token_create(user=owner, name="mcp only", servers=[VirtualServerFactory(owner=owner)])
    assert bearer_client(raw).get(TOKENS).status_code == 403
