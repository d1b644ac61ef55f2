"""Display text (config.display): markup and script URLs are refused where people type names and descriptions,
and text Gatehouse did not get to refuse (what upstreams say about themselves) is escaped wherever it is shown."""
from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from catalog import services as catalog_services
from catalog.models import VirtualServer
from config.display import DisplayTextError, display_text_clean
from teams import services as team_services
from teams.models import Team
from tests.factories import ToolFactory
from tokens.models import ApiToken

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</title><svg onload=alert(1)>",
    "<!-- x --><b>bold</b>",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt :alert(1)",
    "data:text/html,<b>x</b>",
]
HARMLESS = ["Weather & tides", "a < b and b > c", "Search (beta) — v2", "Ünïcödé 名前", "x <= 3"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_and_script_urls_are_refused(payload):
    with pytest.raises(DisplayTextError, match="markup or script"):
        display_text_clean(payload, label="A name", max_length=200)


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_text_with_angle_brackets_and_ampersands_is_kept(text):
    assert display_text_clean(f"  {text} ", label="A name", max_length=200) == text


@pytest.mark.parametrize("text", ["line\r\nbreak", "nul\x00", "bell\x07", "a\u2028b"])
def test_control_characters_are_refused(text):
    with pytest.raises(DisplayTextError, match="control characters"):
        display_text_clean(text, label="A name", max_length=200)


def test_descriptions_may_span_lines_but_names_may_not():
    assert display_text_clean("one\ntwo", label="A description", max_length=200, multiline=True) == "one\ntwo"
    with pytest.raises(DisplayTextError, match="control characters"):
        display_text_clean("one\ntwo", label="A name", max_length=200)


def test_length_limit_is_named():
    with pytest.raises(DisplayTextError, match="at most 5 characters"):
        display_text_clean("123456", label="A name", max_length=5)


# --- where it is entered: services (CLI, tasks), API, admin ------------------------------------------------------


@pytest.mark.django_db
def test_services_refuse_markup_with_their_domain_error(owner):
    with pytest.raises(catalog_services.CatalogError, match="markup"):
        catalog_services.server_create(owner=owner, slug="x", name="<script>alert(1)</script>")
    with pytest.raises(team_services.TeamError, match="markup"):
        team_services.team_create(name="<b>team</b>", creator=owner)
    assert not VirtualServer.objects.exists() and not Team.objects.filter(name__contains="<").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/servers/", {"slug": "xss", "name": "<img src=x onerror=alert(1)>"}),
    ("/api/v1/servers/", {"slug": "xss", "name": "Fine", "description": "<script>alert(1)</script>"}),
    ("/api/v1/teams/", {"name": "<svg onload=alert(1)>"}),
    ("/api/v1/tokens/", {"name": "javascript:alert(1)"}),
])
def test_api_answers_400_with_the_reason(owner, path, body):
    client = APIClient()
    client.force_authenticate(owner)
    response = client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert "may not contain HTML markup or script URLs" in response.content.decode()
    assert not VirtualServer.objects.filter(slug="xss").exists()
    assert not ApiToken.objects.filter(name__startswith="javascript").exists()


@pytest.mark.django_db
def test_admin_form_shows_the_error_instead_of_saving(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:catalog_virtualserver_add"), {
        "slug": "xss", "name": "<script>alert(1)</script>", "description": "", "owner": admin_user.pk,
        "visibility": "private", "enabled": "on",
        **{f"{prefix}-{key}": value for prefix in ("servertool_set", "serverprompt_set", "serverresource_set")
           for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))},
    })
    assert response.status_code == 200
    assert "may not contain HTML markup or script URLs" in response.content.decode()
    assert not VirtualServer.objects.filter(slug="xss").exists()


@pytest.mark.django_db
def test_discovered_text_is_escaped_in_admin_pages(client, admin_user):
    """An upstream's own tool description is not refused (it is the upstream's), but it never renders as markup."""
    tool = ToolFactory(description="<script>alert('tool')</script>", title="<b>bold</b>")
    client.force_login(admin_user)
    for url in (reverse("admin:catalog_tool_change", args=[tool.pk]), reverse("admin:catalog_tool_changelist")):
        page = client.get(url).content.decode()
        assert "<script>alert('tool')</script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#x27;tool&#x27;)&lt;/script&gt;" in client.get(
        reverse("admin:catalog_tool_change", args=[tool.pk])).content.decode()
