"""Defects schemathesis (test_api_schemathesis.py) found in the management API, each pinned by a plain test."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import VirtualServerFactory
from tokens.services import token_create

API = "/api/v1"


def _client(user) -> APIClient:
    client = APIClient()
    _, raw = token_create(user=user, name="regressions")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def schema(owner) -> dict:
    return _client(owner).get(f"{API}/schema/?format=json").json()


@pytest.mark.parametrize("team_id", ["%C3%AE", "abc", "1.5"])
def test_leaving_a_team_whose_id_is_not_a_number_is_404_not_500(owner, team, team_id):
    assert _client(owner).post(f"{API}/teams/{team_id}/leave/").status_code == 404


def test_a_personal_token_has_no_team_and_the_schema_allows_null(owner, schema):
    assert schema["components"]["schemas"]["ApiToken"]["properties"]["team"]["nullable"] is True
    listed = _client(owner).get(f"{API}/tokens/").json()["results"]
    assert listed and all(token["team"] is None for token in listed)


def test_a_servers_entries_are_documented_in_responses_as_they_are_returned(owner, schema):
    """The entries were write-only in the schema (so no response could carry them) yet every response listed them."""
    properties = schema["components"]["schemas"]["VirtualServer"]["properties"]
    for kind in ("tools", "prompts", "resources"):
        assert "writeOnly" not in properties[kind]
    server = VirtualServerFactory(owner=owner)
    body = _client(owner).get(f"{API}/servers/{server.pk}/").json()
    assert body["tools"] == [] and body["prompts"] == [] and body["resources"] == []


@pytest.mark.parametrize("kind", ["tools", "prompts", "resources"])
@pytest.mark.parametrize("entry_id", [2**63, 10**30, 0, -5])
def test_an_entry_id_outside_the_key_range_is_a_400_not_a_database_overflow(owner, kind, entry_id):
    response = _client(owner).post(
        f"{API}/servers/", {"slug": "overflow", kind: [{kind[:-1]: entry_id}]}, format="json"
    )
    assert response.status_code == 400, response.content
