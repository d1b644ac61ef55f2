from __future__ import annotations

import base64
import json
import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog import services
from catalog.config_io import _open_secrets
from catalog.models import Prompt, Resource, Tool, Upstream, VirtualServer
from catalog.selectors import upstream_target

pytestmark = pytest.mark.django_db
KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
SECRET = "upstream-bearer-secret-value"


@pytest.fixture
def catalog(owner, team):
    upstream = services.upstream_create(
        owner=owner, name="Weather", slug="weather", url="https://weather.example.com/mcp", auth_type="bearer",
        credentials={"token": SECRET}, team=team, visibility="team", timeout_seconds=12,
        header_passthrough=["X-Tenant", "x-upstream-authorization"],
    )
    plain = services.upstream_create(owner=owner, name="Plain", slug="plain", url="https://plain.example.com/mcp")
    forecast = Tool.objects.create(
        upstream=upstream, owner=owner, original_name="forecast", exposed_name="weather__forecast",
        input_schema='{"type":"object","properties":{"city":{"type":"string"}}}', description="Forecast",
        annotations={"readOnlyHint": True},
    )
    echo = Tool.objects.create(upstream=plain, owner=owner, original_name="echo", exposed_name="plain__echo")
    prompt = Prompt.objects.create(upstream=upstream, owner=owner, original_name="brief", exposed_name="weather__brief",
                                   arguments=[{"name": "city", "required": True}])
    resource = Resource.objects.create(upstream=upstream, owner=owner, uri="weather://stations", name="stations")
    services.server_create(owner=owner, slug="meteo", tools=[(forecast, "forecast"), (echo, "")],
                           prompts=[(prompt, "")], resources=[(resource, "")], team=team, visibility="team")
    return upstream


def _export(*extra) -> dict:
    out = StringIO()
    call_command("export_config", *extra, stdout=out, stderr=StringIO())
    data = json.loads(out.getvalue())
    data.pop("exported_at")
    return data


def _import(path, *extra) -> str:
    out = StringIO()
    call_command("import_config", str(path), *extra, stdout=out)
    return out.getvalue()


def _empty_catalog() -> None:
    VirtualServer.objects.all().delete()
    Upstream.objects.all().delete()


def test_export_leaves_secrets_out_unless_encrypted_for_a_key(catalog):
    plain = json.dumps(_export())
    assert SECRET not in plain and "secrets" not in json.loads(plain)
    sealed = _export(f"--encrypt-for={KEY}")
    assert SECRET not in json.dumps(sealed)
    assert _open_secrets(sealed, KEY)["weather"]["credentials"] == {"token": SECRET}


def test_round_trip_onto_an_empty_catalog_reproduces_it(catalog, tmp_path):
    before = _export(f"--encrypt-for={KEY}")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(before))
    _empty_catalog()
    assert "Imported" in _import(path, f"--decrypt-with={KEY}")
    after = _export(f"--encrypt-for={KEY}")
    assert _open_secrets(after, KEY) == _open_secrets(before, KEY)
    before.pop("secrets"), after.pop("secrets")
    assert after == before
    weather = Upstream.objects.get(slug="weather")
    assert dict(upstream_target(weather).headers)["Authorization"] == f"Bearer {SECRET}"
    assert weather.header_passthrough == ["x-tenant", "x-upstream-authorization"]


def test_capture_flags_travel_with_the_configuration(catalog, tmp_path):
    services.upstream_update(upstream=catalog, actor=None, capture_traffic=True)
    services.server_update(server=VirtualServer.objects.get(slug="meteo"), actor=None, capture_traffic=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_export()))
    _empty_catalog()
    _import(path)
    assert Upstream.objects.get(slug="weather").capture_traffic is True
    assert Upstream.objects.get(slug="plain").capture_traffic is False
    assert VirtualServer.objects.get(slug="meteo").capture_traffic is True


def test_without_secrets_the_upstream_arrives_unauthenticated(catalog, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_export()))
    _empty_catalog()
    _import(path)
    assert Upstream.objects.get(slug="weather").auth_type == "none"


def test_dry_run_changes_nothing(catalog, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_export()))
    _empty_catalog()
    assert "Dry run" in _import(path, "--dry-run")
    assert not Upstream.objects.exists() and not VirtualServer.objects.exists()


def test_conflicts_fail_by_default_skip_or_update_on_request(catalog, tmp_path):
    data = _export()
    data["servers"][0]["description"] = "from the file"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="already exists"):
        _import(path)
    assert '"skipped": {"prompts": 1' in _import(path, "--on-conflict", "skip")
    assert VirtualServer.objects.get(slug="meteo").description == ""
    _import(path, "--on-conflict", "update")
    assert VirtualServer.objects.get(slug="meteo").description == "from the file"


def test_wrong_key_and_unknown_owner_are_clear_errors(catalog, tmp_path, outsider):
    data = _export(f"--encrypt-for={KEY}")
    for item in data["upstreams"] + data["tools"] + data["prompts"] + data["resources"] + data["servers"]:
        item["owner"] = "nobody@example.com"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    _empty_catalog()
    with pytest.raises(CommandError, match="could not be decrypted"):
        _import(path, "--decrypt-with=" + base64.urlsafe_b64encode(os.urandom(32)).decode())
    with pytest.raises(CommandError, match="--owner"):
        _import(path, f"--decrypt-with={KEY}")
    _import(path, f"--decrypt-with={KEY}", "--owner", outsider.email)
    assert Upstream.objects.get(slug="weather").owner == outsider
