"""Discovery against the real fixture upstream: what lands in the catalog, vanishing, naming, clashes, failures."""
from __future__ import annotations

import json
import time

import mcp
import pytest
from asgiref.sync import async_to_sync

from catalog import services
from catalog.credentials import credentials_headers
from catalog.models import Prompt, Resource, Tool, Upstream
from catalog.naming import MAX_EXPOSED_NAME, exposed_name
from catalog.selectors import upstream_target
from tests.processes import FixtureUpstream, free_port

pytestmark = pytest.mark.django_db

FIXTURE_TOOLS = {"fixture__echo", "fixture__add", "fixture__slow", "fixture__fail"}


def _register(owner, url: str, name: str = "fixture", **options) -> tuple[Upstream, services.DiscoveryReport]:
    upstream = services.upstream_create(owner=owner, name=name, url=url, timeout_seconds=10, **options)
    return upstream, services.upstream_discover(upstream=upstream)


@pytest.fixture
def discovered(owner, upstream_process):
    upstream, report = _register(owner, upstream_process.url)
    assert report.ok, report.error
    return upstream


@pytest.fixture(scope="module")
def upstream_without_add():
    process = FixtureUpstream(hide=("add",)).start()
    yield process
    process.stop()


def _sdk_tool_schemas(url: str, mode: str) -> dict[str, dict]:
    async def listing():
        async with mcp.Client(url, mode=mode, cache=None) as client:
            return (await client.list_tools()).tools

    return {tool.name: tool.input_schema for tool in async_to_sync(listing)()}


def test_discovery_reports_success(owner, upstream_process):
    _, report = _register(owner, upstream_process.url)
    assert (report.ok, report.error, set(report.tools)) == (True, "", FIXTURE_TOOLS)


def test_discovery_stores_tools_under_slug_prefixed_names(discovered):
    names = {tool.exposed_name: tool.original_name for tool in Tool.objects.filter(upstream=discovered)}
    assert names == {f"fixture__{name}": name for name in ("echo", "add", "slow", "fail")}


def test_discovery_stores_the_prompt(discovered):
    assert list(Prompt.objects.filter(upstream=discovered).values_list("exposed_name", "original_name")) == [
        ("fixture__summarize", "summarize")
    ]


def test_discovery_stores_the_resource(discovered):
    resource = Resource.objects.get(upstream=discovered)
    assert (resource.uri, resource.name, resource.mime_type) == ("fixture://greeting", "greeting", "text/plain")


def test_discovered_entries_inherit_the_upstreams_sharing(owner, team, upstream_process):
    upstream, _ = _register(owner, upstream_process.url, team=team, visibility="team")
    assert set(Tool.objects.filter(upstream=upstream).values_list("owner", "team", "visibility")) == {
        (owner.pk, team.pk, "team")
    }


def test_discovery_marks_the_upstream_ok(discovered):
    assert (discovered.discovery_status, discovered.discovery_error) == ("ok", "")
    assert discovered.discovered_at is not None


def test_rediscovery_upserts_without_duplicates(discovered):
    ids = set(Tool.objects.filter(upstream=discovered).values_list("pk", flat=True))
    report = services.upstream_discover(upstream=discovered)
    assert report.ok
    assert set(Tool.objects.filter(upstream=discovered).values_list("pk", flat=True)) == ids


def test_input_schema_equals_what_the_upstream_sent(discovered, upstream_process):
    sent = _sdk_tool_schemas(upstream_process.url, "legacy")
    for tool in Tool.objects.filter(upstream=discovered):
        assert json.loads(tool.input_schema) == sent[tool.original_name]


def test_input_schema_keeps_the_upstreams_key_order(discovered, upstream_process):
    # The fixture server orders schema keys differently per protocol era (legacy: properties first; 2026-07-28:
    # type first), so the reference is an SDK client negotiating the same era as discovery ("auto").
    sent = _sdk_tool_schemas(upstream_process.url, "auto")
    for tool in Tool.objects.filter(upstream=discovered):
        stored = json.loads(tool.input_schema)
        assert list(stored) == list(sent[tool.original_name])
        assert list(stored["properties"]) == list(sent[tool.original_name]["properties"])
        # Every level, in order: equal JSON text of both.
        assert json.dumps(stored) == json.dumps(sent[tool.original_name])


def test_vanished_tool_gets_missing_since(discovered, upstream_without_add, owner):
    services.upstream_update(upstream=discovered, actor=owner, url=upstream_without_add.url)
    report = services.upstream_discover(upstream=discovered)
    assert (report.ok, report.vanished) == (True, 1)
    missing = dict(Tool.objects.filter(upstream=discovered).values_list("original_name", "missing_since"))
    assert missing.pop("add") is not None
    assert set(missing.values()) == {None}


def test_reappearing_tool_has_missing_since_cleared(discovered, upstream_without_add, upstream_process, owner):
    services.upstream_update(upstream=discovered, actor=owner, url=upstream_without_add.url)
    services.upstream_discover(upstream=discovered)
    add_id = Tool.objects.get(upstream=discovered, original_name="add").pk
    services.upstream_update(upstream=discovered, actor=owner, url=upstream_process.url)
    assert services.upstream_discover(upstream=discovered).ok
    add = Tool.objects.get(upstream=discovered, original_name="add")
    assert (add.pk, add.missing_since) == (add_id, None)


def test_rediscovery_keeps_a_renamed_tools_exposed_name(discovered, owner):
    echo = Tool.objects.get(upstream=discovered, original_name="echo")
    services.catalog_entry_update(entry=echo, actor=owner, exposed_name="say")
    assert services.upstream_discover(upstream=discovered).ok
    echo.refresh_from_db()
    assert echo.exposed_name == "say"


def test_short_exposed_name_is_slug_and_name():
    assert exposed_name("github", "create_issue") == "github__create_issue"


def test_long_exposed_name_is_cut_to_64_characters():
    assert len(exposed_name("s" * 40, "t" * 100)) == MAX_EXPOSED_NAME


def test_long_exposed_name_is_stable():
    assert exposed_name("s" * 40, "t" * 100) == exposed_name("s" * 40, "t" * 100)


def test_long_exposed_names_sharing_a_prefix_stay_unique():
    first, second = exposed_name("slug", "x" * 100 + "_one"), exposed_name("slug", "x" * 100 + "_two")
    assert first[:50] == second[:50]
    assert first != second


def test_exposed_name_of_exactly_64_characters_is_kept_whole():
    name = "n" * (MAX_EXPOSED_NAME - len("slug__"))
    assert exposed_name("slug", name) == f"slug__{name}"


def test_name_clash_between_upstreams_is_refused_naming_both(owner, upstream_process):
    first, _ = _register(owner, upstream_process.url, name="Upstream A", slug="a")
    echo = Tool.objects.get(upstream=first, original_name="echo")
    services.catalog_entry_update(entry=echo, actor=owner, exposed_name="b__echo")

    second, report = _register(owner, upstream_process.url, name="Upstream B", slug="b")

    assert report.ok is False
    assert "'Upstream A'" in report.error and "'Upstream B'" in report.error


def test_name_clash_with_another_tenants_private_upstream_does_not_reveal_it(owner, outsider, upstream_process):
    secret, _ = _register(outsider, upstream_process.url, name="Secret Upstream", slug="secret")
    services.catalog_entry_update(
        entry=Tool.objects.get(upstream=secret, original_name="echo"), actor=outsider, exposed_name="mine__echo"
    )

    _, report = _register(owner, upstream_process.url, name="Mine", slug="mine")

    assert report.ok is False
    assert "'Mine'" in report.error
    assert "Secret Upstream" not in report.error
    assert "an upstream you cannot see" in report.error


def test_name_clash_leaves_the_second_upstream_failed_and_empty(owner, upstream_process):
    first, _ = _register(owner, upstream_process.url, name="Upstream A", slug="a")
    services.catalog_entry_update(entry=Tool.objects.get(upstream=first, original_name="echo"), actor=owner,
                                  exposed_name="b__echo")

    second, _ = _register(owner, upstream_process.url, name="Upstream B", slug="b")

    second.refresh_from_db()
    assert second.discovery_status == "failed"
    assert "b__echo" in second.discovery_error
    assert not Tool.objects.filter(upstream=second).exists()


def test_unreachable_upstream_records_failed_discovery_quickly(owner):
    started = time.monotonic()
    upstream = services.upstream_create(
        owner=owner, name="gone", url=f"http://127.0.0.1:{free_port()}/mcp", timeout_seconds=2
    )
    report = services.upstream_discover(upstream=upstream)
    assert time.monotonic() - started < 10
    upstream.refresh_from_db()
    assert (report.ok, upstream.discovery_status) == (False, "failed")
    assert upstream.discovery_error


def test_bearer_credentials_are_stored_sealed(owner):
    upstream = services.upstream_create(
        owner=owner, name="secured", url="http://127.0.0.1:9/mcp", auth_type="bearer",
        credentials={"token": "upstream-s3cret"},
    )
    upstream.refresh_from_db()
    assert upstream.credentials_sealed
    assert "upstream-s3cret" not in upstream.credentials_sealed


@pytest.mark.parametrize(
    ("auth_type", "credentials", "headers"),
    [
        ("bearer", {"token": "upstream-s3cret"}, (("Authorization", "Bearer upstream-s3cret"),)),
        ("basic", {"username": "gate", "password": "pw"}, (("Authorization", "Basic Z2F0ZTpwdw=="),)),
        ("headers", {"headers": {"X-Api-Key": "k1", "X-Org": "o"}}, (("X-Api-Key", "k1"), ("X-Org", "o"))),
        ("none", None, ()),
    ],
)
def test_sealed_credentials_become_the_upstream_request_headers(owner, auth_type, credentials, headers):
    upstream = services.upstream_create(
        owner=owner, name="secured", url="http://127.0.0.1:9/mcp", auth_type=auth_type, credentials=credentials
    )
    upstream.refresh_from_db()
    assert credentials_headers(upstream.auth_type, upstream.credentials_sealed) == headers
    assert upstream_target(upstream).headers == headers


def test_configured_separator_is_used_in_exposed_names(owner, upstream_process, settings):
    settings.GATEHOUSE_NAME_SEPARATOR = "."
    upstream, report = _register(owner, upstream_process.url, name="dotted", slug="dotted")
    assert report.ok
    assert set(report.tools) == {"dotted.echo", "dotted.add", "dotted.slow", "dotted.fail"}
    assert Prompt.objects.get(upstream=upstream).exposed_name == "dotted.summarize"
