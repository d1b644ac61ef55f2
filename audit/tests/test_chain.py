from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audit.retention import AuditChainBroken, audit_archive
from audit.selectors import audit_archives_verify, audit_chain_verify
from audit.services import MASK, audit_record, audit_security_event

# Events are chained once their transaction commits: these tests commit like production code does.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_personal_teams(settings):
    """Creating the test users must not write audit events of its own (personal teams): sequences start at 1."""
    settings.AUTO_CREATE_PERSONAL_TEAMS = False


def _events(owner, count: int = 3) -> list[AuditEvent]:
    events = [audit_record(f"thing.{i}", actor=owner, via="cli", target=owner, data={"n": i}) for i in range(count)]
    for event in events:
        event.refresh_from_db()
    return events


def _verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def test_events_link_into_one_chain(owner):
    first, second = _events(owner, 2)
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash and len(second.hash) == 64
    assert AuditChainHead.objects.get(pk=1).hash == second.hash
    assert "2 events verified" in _verify()


def test_old_call_signature_still_records_a_user_event(owner):
    event = audit_record("upstream.create", actor=owner, target=owner, data={"password": "hunter2", "name": "x"})
    assert event.actor_kind == AuditEvent.ActorKind.USER
    assert event.data == {"password": MASK, "name": "x"}


def test_token_actor_origin_and_masked_before_after(owner):
    event = audit_record(
        "token.use", actor=owner, token=42, via="api", ip="::ffff:10.0.0.1", user_agent="curl/8",
        before={"api_key": "s3cret", "url": "a"}, after={"api_key": "t0p", "url": "b"},
    )
    event.refresh_from_db()
    assert event.seq == 1 and len(event.hash) == 64
    assert event.actor_kind == AuditEvent.ActorKind.TOKEN and event.token_id == 42
    assert event.before == {"api_key": MASK, "url": "a"} and event.after == {"api_key": MASK, "url": "b"}
    assert event.ip and event.user_agent == "curl/8"
    assert audit_chain_verify().ok


def test_unknown_via_is_kept_not_dropped(owner, caplog):
    event = audit_record("x", actor=owner, via="carrier-pigeon-post")
    assert event.via == "carrier-pigeon-p" and "unknown channel" in caplog.text


def test_security_event_is_flagged(owner):
    event = audit_security_event("permission.denied", actor=owner, via="mcp", ip="203.0.113.9", data={"tool": "t"})
    assert event.security and event.ip == "203.0.113.9"


def test_request_supplies_ip_and_user_agent(owner, rf):
    request = rf.get("/", REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Mozilla/5.0")
    event = audit_security_event("login.failed", via="web", request=request)
    assert (event.ip, event.user_agent, event.actor_kind) == ("198.51.100.4", "Mozilla/5.0", "system")


def test_row_edited_behind_its_back_is_detected(owner):
    events = _events(owner, 4)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["mallory", events[1].pk])
    report = audit_chain_verify()
    assert not report.ok and report.broken_seq == 2 and "changed" in report.reason
    with pytest.raises(CommandError, match="#2"):
        _verify()


def test_deleted_row_is_detected(owner):
    events = _events(owner, 4)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    report = audit_chain_verify()
    assert not report.ok and report.broken_seq == 4 and "#3 is missing" in report.reason


def test_deleted_newest_row_is_detected(owner):
    events = _events(owner, 3)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    report = audit_chain_verify()
    assert not report.ok and "newer events were deleted" in report.reason



def test_retention_archives_a_segment_and_verification_resumes_from_its_checkpoint(owner, settings, tmp_path):
    settings.AUDIT_ARCHIVE_DIR = tmp_path
    base = timezone.now() - timedelta(days=400)
    old = []
    for i in range(5):
        event = audit_record(f"old.{i}", actor=owner, via="cli")
        event.refresh_from_db()
        old.append(event)
    # Re-write the old events' timestamps and re-chain them, as if they had been written 400 days ago.
    prev = ""
    from audit.chain import event_hash

    for event in old:
        event.created_at, event.prev_hash = base, prev
        event.hash = prev = event_hash(event)
        event.save()
    AuditChainHead.objects.filter(pk=1).update(hash=prev)
    recent = _events(owner, 2)
    assert audit_chain_verify().ok

    report = audit_archive(older_than=timezone.now() - timedelta(days=365), batch_size=2)

    assert report.archived == 5 and report.deleted == 5
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.first_seq, checkpoint.seq, checkpoint.hash) == (1, 5, old[-1].hash)
    lines = (Path(tmp_path) / checkpoint.archive_name).read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert not AuditEvent.objects.filter(seq__lte=5).exists()
    assert AuditEvent.objects.filter(action="audit.archive").exists()
    chain = audit_chain_verify()
    assert chain.ok and chain.start_seq == 5 and chain.checked == len(recent) + 1
    assert audit_archives_verify(tmp_path).ok

    # Tampering with the archive file is detected too.
    (Path(tmp_path) / checkpoint.archive_name).write_text("\n".join(lines[:-1]) + "\n")
    assert not audit_archives_verify(tmp_path).ok


def test_a_broken_chain_is_never_archived(owner, settings, tmp_path):
    settings.AUDIT_ARCHIVE_DIR = tmp_path
    events = _events(owner, 3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [events[0].pk])
    with pytest.raises(AuditChainBroken):
        audit_archive(older_than=timezone.now() + timedelta(days=1))
    assert AuditEvent.objects.count() == 3 and not AuditCheckpoint.objects.exists()


def test_export_writes_json_lines_since_a_date(owner, tmp_path):
    _events(owner, 3)
    out = tmp_path / "audit.jsonl"
    call_command("audit_export", "--since", (timezone.now() - timedelta(hours=1)).isoformat(), "-o", str(out), stderr=StringIO())
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["action"] for r in records] == ["thing.0", "thing.1", "thing.2"]
    assert all(len(r["hash"]) == 64 for r in records)
    later = tmp_path / "none.jsonl"
    call_command("audit_export", "--since", "2999-01-01", "-o", str(later), stderr=StringIO())
    assert later.read_text() == ""


def test_event_written_in_a_rolled_back_transaction_leaves_no_trace(owner):
    from django.db import transaction

    _events(owner, 1)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record("doomed", actor=owner)
        raise RuntimeError
    _events(owner, 1)
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", "action")) == [(1, "thing.0"), (2, "thing.0")]
    assert audit_chain_verify().ok


def test_an_event_that_could_not_be_chained_yet_is_chained_by_verify(owner):
    from audit.services import audit_chain_pending

    _events(owner, 1)
    AuditEvent.objects.create(created_at=timezone.now(), action="late", actor_kind="system")  # committed, unchained
    assert audit_chain_verify().ok and audit_chain_verify().checked == 1
    assert "2 events verified" in _verify()
    assert audit_chain_pending() == 0


def test_concurrent_appends_stay_one_linear_chain(owner):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def append(i: int) -> None:
        try:
            audit_record(f"parallel.{i}", actor=owner, via="task")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(append, range(24)))
    report = audit_chain_verify()
    assert report.ok and report.checked == 24


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL")
def test_audit_never_deadlocks_with_other_row_locks_taken_in_either_order(owner):
    """One service bumps the catalog version then audits, another audits then bumps: with the chain lock taken inside
    the writing transactions these two would deadlock; chaining after commit keeps them independent."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections, transaction

    from catalog.version import catalog_version_bump

    catalog_version_bump()
    both_locked = threading.Barrier(2, timeout=10)

    def bump_then_audit() -> None:
        try:
            with transaction.atomic():
                catalog_version_bump()
                both_locked.wait()
                audit_record("first", actor=owner)
        finally:
            connections.close_all()

    def audit_then_bump() -> None:
        try:
            with transaction.atomic():
                audit_record("second", actor=owner)
                both_locked.wait()
                catalog_version_bump()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(bump_then_audit), pool.submit(audit_then_bump)]
        for future in futures:
            future.result(timeout=30)
    assert audit_chain_verify().ok and AuditEvent.objects.filter(action__in=["first", "second"]).count() == 2
