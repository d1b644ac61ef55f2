"""Header passthrough: off by default, allowlisted per upstream, never the client's Authorization, sanitised."""
from __future__ import annotations

import pytest

from catalog.passthrough import MAX_VALUE_BYTES, PassthroughError, allowlist_clean, passthrough_headers

INCOMING = {
    "authorization": "Bearer gth_client_token",
    "x-tenant": "acme",
    "x-upstream-authorization": "Bearer upstream-user-token",
    "cookie": "sessionid=abc",
    "x-other": "not listed",
}


@pytest.fixture
def passthrough_on(settings):
    settings.GATEHOUSE_HEADER_PASSTHROUGH = True


def test_nothing_passes_while_the_feature_is_off(settings):
    settings.GATEHOUSE_HEADER_PASSTHROUGH = False
    assert passthrough_headers(allowlist=["x-tenant"], incoming=INCOMING) == {}


def test_only_allowlisted_headers_pass(passthrough_on):
    assert passthrough_headers(allowlist=["x-tenant"], incoming=INCOMING) == {"x-tenant": "acme"}


def test_the_clients_authorization_never_passes_but_x_upstream_authorization_may(passthrough_on):
    forwarded = passthrough_headers(allowlist=["x-upstream-authorization"], incoming=INCOMING)
    assert forwarded == {"authorization": "Bearer upstream-user-token"}
    assert "gth_client_token" not in str(forwarded)


@pytest.mark.parametrize("name", ["Authorization", "cookie", "Host", "Mcp-Session-Id", "X-Forwarded-For", "Transfer-Encoding"])
def test_an_allowlist_cannot_name_a_forbidden_header(name):
    with pytest.raises(PassthroughError):
        allowlist_clean([name])


@pytest.mark.parametrize("name", ["X-Bad\r\nInjected", "x tenant", "", "x:y", "é"])
def test_an_allowlist_refuses_invalid_names(name):
    with pytest.raises(PassthroughError):
        allowlist_clean([name])


def test_allowlist_is_lower_cased_and_deduplicated():
    assert allowlist_clean(["X-Tenant", "x-tenant", "X-Trace-Id"]) == ["x-tenant", "x-trace-id"]


@pytest.mark.parametrize("value", ["acme\r\nX-Injected: 1", "acme\nx", "acme\x00", "acme\x7f"])
def test_header_injection_with_control_characters_is_refused(passthrough_on, value):
    with pytest.raises(PassthroughError):
        passthrough_headers(allowlist=["x-tenant"], incoming={"x-tenant": value})


def test_values_are_clamped_to_4_kb(passthrough_on):
    forwarded = passthrough_headers(allowlist=["x-tenant"], incoming={"x-tenant": "a" * 10_000})
    assert len(forwarded["x-tenant"].encode()) == MAX_VALUE_BYTES
