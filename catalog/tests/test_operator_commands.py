from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from catalog.models import UpstreamHealth
from tests.factories import UpstreamFactory
from tests.processes import free_port
from tests.published import upstream_registered
from tokens.models import ApiToken
from tokens.services import token_create

pytestmark = pytest.mark.django_db(transaction=True)


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_check_upstreams_reports_each_and_fails_when_one_is_unhealthy(owner, upstream_process, settings):
    settings.UNHEALTHY_THRESHOLD = 1
    upstream_registered(owner, upstream_process.url)
    dead = UpstreamFactory(owner=owner, slug="dead", url=f"http://127.0.0.1:{free_port()}/mcp")
    assert "fixture: ok" in _run("check_upstreams", "--upstream", "fixture")
    with pytest.raises(CommandError, match="1 upstream"):
        _run("check_upstreams")
    assert UpstreamHealth.objects.get(upstream=dead).status == UpstreamHealth.Status.UNHEALTHY
    assert AuditEvent.objects.filter(action="upstream.unhealthy", via="cli").exists()
    from proxy.upstream.breaker import breaker_close

    breaker_close(dead.pk)


def test_sync_upstreams_prints_unchanged(owner, upstream_process):
    upstream_registered(owner, upstream_process.url)
    assert "[1/1] fixture: unchanged" in _run("sync_upstreams")
    with pytest.raises(CommandError, match="No upstream named nope"):
        _run("sync_upstreams", "--upstream", "nope")


def test_revoke_token_by_prefix(owner):
    token, raw = token_create(user=owner, name="ci")
    assert "revoked" in _run("revoke_token", raw[:12])
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", actor_kind="system").exists()
    assert "already revoked" in _run("revoke_token", str(token.pk))
    with pytest.raises(CommandError):
        _run("revoke_token", "gth_nothere1")
    assert ApiToken.objects.count() == 1


def test_purge_reports_what_it_removed(owner, settings, tmp_path):
    settings.AUDIT_ARCHIVE_DIR = tmp_path
    out = _run("purge", "--batch-size", "10")
    assert "health_checks: 0 removed" in out and "audit_events: 0 removed" in out
