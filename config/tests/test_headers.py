"""Response headers and cookies: CSP, framing, sniffing, referrer, permissions, CORS, cookie flags and names."""
from __future__ import annotations

import json

import pytest
from django.test import override_settings

from config.tests.test_settings import STRONG_PRODUCTION_ENV, _start_production
from tests.browser import CHROMIUM, CHROMIUM_MISSING, chromium_page, password_login

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return {name: (rest[0] if rest else "") for name, *rest in directives}


def test_admin_pages_carry_a_strict_content_security_policy(client):
    policy = _policy(client.get("/accounts/login/"))
    assert policy["default-src"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'"


def test_every_django_response_carries_the_protective_headers(client):
    response = client.get("/accounts/login/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "microphone=()" in response.headers["Permissions-Policy"]
    assert "Server" not in response.headers and "X-Powered-By" not in response.headers


def test_api_errors_carry_the_headers_too(client):
    response = client.get("/api/v1/tools/")
    assert response.status_code in (401, 403)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Permissions-Policy" in response.headers


def test_only_the_api_docs_page_may_load_swagger_from_its_cdn(admin_client):
    docs = admin_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in _policy(docs)["script-src"]
    assert b"<script>" not in docs.content  # the start-up script is a separate file
    script = admin_client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("application/javascript")
    assert "cdn.jsdelivr.net" not in _policy(admin_client.get("/admin/"))["script-src"]


def test_session_and_csrf_cookies_are_httponly_and_samesite(client, admin_user):
    login = client.get("/accounts/login/")
    csrf = login.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post(
        "/accounts/login/?next=/admin/",
        {"login": admin_user.email, "password": "admin-password-for-tests", "csrfmiddlewaretoken": csrf.value},
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


@override_settings(CORS_ALLOWED_ORIGINS=["https://portal.example.com"])
def test_cors_admits_only_the_configured_origins_on_the_api(client):
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization"}
    allowed = client.options("/api/v1/tools/", HTTP_ORIGIN="https://portal.example.com", **preflight)
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.example.com"
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    foreign = client.options("/api/v1/tools/", HTTP_ORIGIN="https://evil.example.net", **preflight)
    assert "Access-Control-Allow-Origin" not in foreign.headers
    admin = client.options("/admin/login/", HTTP_ORIGIN="https://portal.example.com", **preflight)
    assert "Access-Control-Allow-Origin" not in admin.headers


def test_no_cross_origin_access_by_default(client):
    response = client.get("/api/v1/tools/", HTTP_ORIGIN="https://portal.example.com")
    assert "Access-Control-Allow-Origin" not in response.headers


_DUMP = (
    "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) for k in ("
    "'SESSION_COOKIE_NAME', 'CSRF_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', 'SECURE_HSTS_SECONDS', 'CSRF_TRUSTED_ORIGINS', "
    "'ENVIRONMENT', 'GATEHOUSE_EGRESS_ALLOW')}))"
)


def test_production_cookies_are_host_bound_and_secure_with_hsts():
    started = _start_production({**STRONG_PRODUCTION_ENV, "APP_DOMAIN": "gatehouse.example.com"}, code=_DUMP)
    assert started.returncode == 0, started.stderr
    values = json.loads(started.stdout.strip().splitlines()[-1])
    assert values["SESSION_COOKIE_NAME"].startswith("__Host-") and values["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SESSION_COOKIE_HTTPONLY"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert "https://gatehouse.example.com" in values["CSRF_TRUSTED_ORIGINS"]
    assert values["ENVIRONMENT"] == "production"
    assert values["GATEHOUSE_EGRESS_ALLOW"] == []  # production reaches nothing internal unless told


# --- the admin under the policy, in a real browser ---------------------------------------------------------------

@pytest.mark.skipif(CHROMIUM_MISSING, reason=f"no browser at {CHROMIUM}")
@pytest.mark.django_db(transaction=True)
def test_admin_scripts_run_under_the_policy_without_violations(live_server):
    from accounts.models import User
    from catalog import services

    admin = User.objects.create_superuser(email="csp-admin@example.com", password="csp-admin-password")
    for name in ("one", "two"):
        services.upstream_create(owner=admin, name=name, url=f"http://127.0.0.1:9/{name}")
    violations: list[str] = []
    with chromium_page() as page:
        page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
        password_login(page, live_server.url, "csp-admin@example.com", "csp-admin-password")
        page.goto(f"{live_server.url}/admin/catalog/upstream/")
        # actions.js: the header checkbox selects every row, and the counter follows.
        page.click("#action-toggle")
        assert page.locator("input.action-select:checked").count() == 2
        assert "2 of 2 selected" in page.locator(".action-counter").inner_text()
        page.goto(f"{live_server.url}/admin/catalog/upstream/add/")
        page.wait_for_load_state()
    assert violations == []
