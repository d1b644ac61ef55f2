"""The external issuer's settings check and scope mapping (the end-to-end behaviour is in
tests/test_oauth_resource_server.py, against a real authorization server)."""
from __future__ import annotations

from tokens.checks import oauth_issuer_configuration
from tokens.oauth_issuer import MCP_PERMISSIONS, oauth_issued, oauth_permissions


def test_off_by_default_nothing_is_routed_to_it(settings):
    settings.OAUTH_ISSUER = ""
    assert oauth_issuer_configuration(None) == []
    assert not oauth_issued("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.")


def test_symmetric_algorithms_and_a_missing_audience_fail_the_check(settings):
    settings.OAUTH_ISSUER = "https://issuer.example"
    settings.OAUTH_ALGORITHMS = ["RS256", "HS256"]
    settings.OAUTH_AUDIENCE = []
    settings.GATEHOUSE_PUBLIC_URL = ""
    errors = oauth_issuer_configuration(None)
    assert [error.id for error in errors] == ["tokens.E003", "tokens.E003"]
    assert "HS256" in errors[0].msg and "OAUTH_AUDIENCE" in errors[1].msg


def test_scope_maps_to_permissions():
    assert oauth_permissions({"scope": "mcp"}) == MCP_PERMISSIONS
    assert oauth_permissions({"scope": "servers.read openid profile"}) == {"servers.read"}
    assert oauth_permissions({"scope": ["mcp", "upstreams.read"]}) == MCP_PERMISSIONS | {"upstreams.read"}
    assert oauth_permissions({}) == frozenset()
    assert oauth_permissions({"scope": 7}) == frozenset()
