"""Captured traffic in the admin: read-only, and only for holders of ``admin.security_audit``."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.capture import Capture
from audit.models import CapturedMessage
from audit.services import captured_messages_purge, captured_messages_write
from teams.models import PlatformRole
from tests.browser import CHROMIUM, CHROMIUM_MISSING, chromium_page, password_login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "admin:audit_capturedmessage_changelist"


def _captured(**fields) -> CapturedMessage:
    text = fields.pop("text", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"fixture__echo",'
                              '"arguments":{"text":"<script>alert(1)</script>","api_key":"sk-live-abcdefghijklmnop"}}}')
    captured_messages_write(captures=[Capture(direction="in", method="tools/call", text=text, **fields)])
    return CapturedMessage.objects.latest("id")


@pytest.fixture
def message():
    return _captured(name="fixture__echo", server_slug="demo", upstream_slug="fixture", session_digest="d" * 32)


def _staff(email: str, role: str | None = None):
    user = UserFactory(email=email, is_staff=True)
    if role:
        PlatformRole.objects.create(user=user, role=role)
    return user


def test_stored_payload_has_the_secret_argument_redacted(message):
    assert "sk-live" not in message.payload
    assert '"api_key":"[REDACTED]"' in message.payload


def test_superuser_sees_the_list_and_searches_by_tool(client, admin_user, message):
    _captured(name="fixture__add", server_slug="demo")
    client.force_login(admin_user)
    page = client.get(reverse(LIST), {"q": "fixture__echo"})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert page.context["cl"].result_list[0].pk == message.pk


def test_session_digest_search_finds_the_session(client, admin_user, message):
    _captured(name="fixture__add", session_digest="e" * 32)
    client.force_login(admin_user)
    page = client.get(reverse(LIST), {"q": "d" * 32})
    assert [row.pk for row in page.context["cl"].result_list] == [message.pk]


def test_platform_viewer_reads_the_detail_as_escaped_pretty_json(client, message):
    client.force_login(_staff("viewer@example.com", PlatformRole.Name.VIEWER))
    page = client.get(reverse("admin:audit_capturedmessage_change", args=[message.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body
    assert '&quot;api_key&quot;: &quot;[REDACTED]&quot;' in body  # indented JSON, escaped


def test_list_filters_by_server_and_direction(client, admin_user, message):
    _captured(name="other", server_slug="other")
    client.force_login(admin_user)
    page = client.get(reverse(LIST), {"server_slug": "demo", "direction": "in"})
    assert [row.pk for row in page.context["cl"].result_list] == [message.pk]


@pytest.mark.parametrize("team_owner", [False, True])
def test_staff_without_security_audit_is_refused(client, message, owner, team, team_owner):
    user = owner if team_owner else _staff("staff@example.com")
    user.is_staff = True
    user.save()
    client.force_login(user)
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(reverse("admin:audit_capturedmessage_change", args=[message.pk])).status_code == 403
    assert b"Captured messages" not in client.get(reverse("admin:index")).content


def test_nobody_changes_or_deletes_captures(client, admin_user, message):
    client.force_login(admin_user)
    deleted = client.post(reverse("admin:audit_capturedmessage_delete", args=[message.pk]), {"post": "yes"})
    assert deleted.status_code == 403
    assert CapturedMessage.objects.filter(pk=message.pk).exists()


def test_visible_to_is_empty_without_security_audit(owner):
    from teams.selectors import principal_for_user

    _captured(name="x")
    assert not CapturedMessage.objects.visible_to(principal_for_user(owner)).exists()


def test_purge_removes_only_old_rows_in_batches():
    now = timezone.now()
    old = [_captured(name=f"old{i}", created_at=now - timedelta(days=10)) for i in range(5)]
    recent = _captured(name="recent", created_at=now - timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        assert captured_messages_purge(older_than=now - timedelta(days=7), batch_size=2) == len(old)
    deletes = [query for query in queries.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 3  # 2 + 2 + 1 rows
    assert list(CapturedMessage.objects.values_list("pk", flat=True)) == [recent.pk]


def test_retention_run_applies_capture_retention_days(settings):
    from audit.retention import retention_run

    settings.CAPTURE_RETENTION_DAYS = 3
    now = timezone.now()
    _captured(name="old", created_at=now - timedelta(days=4))
    _captured(name="kept", created_at=now - timedelta(days=2))
    assert retention_run(now=now)["captured_messages"] == 1
    assert list(CapturedMessage.objects.values_list("name", flat=True)) == ["kept"]


@pytest.mark.skipif(CHROMIUM_MISSING, reason=f"no browser at {CHROMIUM}")
@pytest.mark.django_db(transaction=True)
def test_viewer_browses_captures_in_a_real_browser_and_script_stays_text(live_server):
    viewer = _staff("browser-viewer@example.com", PlatformRole.Name.VIEWER)
    viewer.set_password("browser-viewer-password")
    viewer.save()
    message = _captured(name="fixture__echo", server_slug="demo")
    with chromium_page() as page:
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        password_login(page, live_server.url, viewer.email, "browser-viewer-password", path="/admin/login/")
        page.goto(f"{live_server.url}{reverse(LIST)}?q=fixture__echo")
        assert page.locator("#result_list tbody tr").count() == 1
        page.goto(f"{live_server.url}{reverse('admin:audit_capturedmessage_change', args=[message.pk])}")
        shown = page.locator("pre").inner_text()
        assert '"api_key": "[REDACTED]"' in shown and "<script>alert(1)</script>" in shown
        assert dialogs == []
