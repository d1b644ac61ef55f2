"""Start-up posture: checks with stable ids, REQUIRE_STRONG_SECRETS refusing to start, security_report, flags."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core import checks
from django.core.management import call_command

from catalog import services as catalog_services
from config.checks import TAG
from tests.processes import ROOT


def _ids(databases=None) -> set[str]:
    return {message.id for message in checks.run_checks(tags=[TAG], databases=databases)}


@pytest.fixture
def production(settings):
    settings.ENVIRONMENT = "production"
    settings.GATEHOUSE_STDIO_UPSTREAMS = False
    settings.GATEHOUSE_PUBLIC_URL = "https://gatehouse.example.com"
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.GATEHOUSE_EGRESS_ALLOW = ()
    return settings


def test_a_sound_production_configuration_has_no_findings(production):
    assert _ids() == set()


def test_debug_wildcard_hosts_and_insecure_cookies_are_reported_in_production(production):
    production.DEBUG = True
    production.ALLOWED_HOSTS = ["*"]
    production.SESSION_COOKIE_SECURE = False
    assert {"gatehouse.W003", "gatehouse.W004", "gatehouse.W005"} <= _ids()


def test_the_same_settings_are_not_findings_locally(settings):
    settings.DEBUG, settings.ALLOWED_HOSTS = True, ["*"]
    assert not {"gatehouse.W003", "gatehouse.W004", "gatehouse.W005"} & _ids()


def test_stdio_upstreams_and_an_open_egress_allowlist_are_reported_in_production(production):
    production.GATEHOUSE_STDIO_UPSTREAMS = True
    production.GATEHOUSE_EGRESS_ALLOW = ("169.254.169.254/32",)
    assert {"gatehouse.W007", "gatehouse.W009"} <= _ids()


@pytest.mark.parametrize("secret", ["django-insecure-" + "ab" * 30, "x" * 64, "too-short"])
def test_default_or_low_entropy_secret_key_is_reported(settings, secret):
    settings.SECRET_KEY = secret
    assert "gatehouse.W001" in _ids()


def test_low_entropy_encryption_key_is_reported(settings):
    settings.GATEHOUSE_ENCRYPTION_KEYS = {"zero": bytes(32), **settings.GATEHOUSE_ENCRYPTION_KEYS}
    messages = [m for m in checks.run_checks(tags=[TAG]) if m.id == "gatehouse.W002"]
    assert messages and "zero" in messages[0].msg
    assert "\x00" not in messages[0].msg  # key ids only, never key material


def test_require_strong_secrets_turns_findings_into_errors(production):
    production.DEBUG = True
    production.REQUIRE_STRONG_SECRETS = True
    messages = checks.run_checks(tags=[TAG])
    assert "gatehouse.E003" in {m.id for m in messages}
    assert all(m.is_serious() for m in messages)


@pytest.mark.django_db
def test_plain_http_upstreams_are_reported_in_production_with_the_database(production, owner):
    catalog_services.upstream_create(owner=owner, name="plain", url="http://mcp.example.com/mcp")
    catalog_services.upstream_create(owner=owner, name="tls", url="https://mcp.example.com/mcp")
    assert "gatehouse.W006" not in _ids()  # without --database the database is not read
    messages = [m for m in checks.run_checks(tags=[TAG], databases=["default"]) if m.id == "gatehouse.W006"]
    assert messages and "plain" in messages[0].msg and "tls" not in messages[0].msg


@pytest.mark.django_db
def test_servers_open_to_anonymous_callers_are_reported(production, owner):
    assert "gatehouse.W008" not in _ids(databases=["default"])
    catalog_services.server_create(owner=owner, slug="open-door", allow_anonymous=True)
    catalog_services.server_create(owner=owner, slug="closed-door")
    messages = [m for m in checks.run_checks(tags=[TAG], databases=["default"]) if m.id == "gatehouse.W008"]
    assert messages and "open-door" in messages[0].msg and "closed-door" not in messages[0].msg


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**inherited, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
    )


def test_require_strong_secrets_stops_manage_py_and_the_asgi_application():
    weak = {"SECRET_KEY": "weak-weak-weak", "REQUIRE_STRONG_SECRETS": "true"}
    check = _run(["manage.py", "check"], **weak)
    assert check.returncode != 0 and "gatehouse.E001" in check.stderr
    asgi = _run(["-c", "import config.asgi"], **weak)
    assert asgi.returncode != 0 and "gatehouse.E001" in asgi.stderr and "weak-weak-weak" not in asgi.stderr
    assert _run(["manage.py", "check"], SECRET_KEY="weak-weak-weak").returncode == 0  # a warning only


def test_security_report_prints_even_when_start_up_is_refused():
    report = _run(["manage.py", "security_report", "--json", "--no-database"],
                  SECRET_KEY="weak-weak-weak", REQUIRE_STRONG_SECRETS="true")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert {"id": "gatehouse.E001", "level": "error"}.items() <= data["findings"][0].items()
    assert "weak-weak-weak" not in report.stdout


@pytest.mark.django_db
def test_security_report_text_lists_flags_and_findings(settings, capsys):
    settings.SECRET_KEY = "x" * 64
    call_command("security_report")
    out = capsys.readouterr().out
    assert "GATEHOUSE_HEADER_PASSTHROUGH" in out and "gatehouse.W001" in out


def test_risky_feature_flags_are_off_by_default(settings):
    assert not settings.GATEHOUSE_HEADER_PASSTHROUGH
    assert not settings.GATEHOUSE_REST_TOOLS
    assert not settings.GATEHOUSE_BULK_IMPORT
    assert not getattr(settings, "PUBLIC_REGISTRATION_ENABLED", False)


_STATUS = (
    "import django; django.setup(); from django.test import Client; c = Client(HTTP_HOST='127.0.0.1');"
    "print(c.get('/admin/login/').status_code, c.get('/api/v1/tools/').status_code, c.get('/robots.txt').status_code)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    # /admin/login/ hands over to allauth's login page (302) while the admin is on.
    [({}, "302 401 200"), ({"GATEHOUSE_ADMIN_UI": "false"}, "404 401 200"),
     ({"GATEHOUSE_MANAGEMENT_API": "false"}, "302 404 200")],
)
def test_switched_off_surfaces_answer_404(env, expected):
    started = _run(["-c", _STATUS], **env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1] == expected
