"""Retention for the audit trail: old events are archived to a JSON-lines file with a checkpoint, never just deleted."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from audit.chain import canonical_json
from audit.models import AuditCheckpoint, AuditEvent
from audit.selectors import CHUNK, chain_links, audit_event_record
from audit.services import audit_chain_pending, audit_record, captured_messages_purge
from config.batching import delete_in_batches


class AuditChainBroken(RuntimeError):
    pass


@dataclass(frozen=True)
class ArchiveReport:
    checkpoint: AuditCheckpoint | None
    archived: int
    deleted: int


def _write_archive(path: Path, events) -> tuple[str, int, int, str]:
    """Write the segment atomically (temp file, fsync, rename); returns (sha256, first seq, count, last hash)."""
    digest, first, count, last_hash = hashlib.sha256(), None, 0, ""
    temporary = path.with_suffix(".partial")
    with temporary.open("w", encoding="utf-8") as out:
        for event in events:
            line = canonical_json(audit_event_record(event)) + "\n"
            out.write(line)
            digest.update(line.encode("utf-8"))
            first = event.seq if first is None else first
            count += 1
            last_hash = event.hash
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return digest.hexdigest(), first or 0, count, last_hash


def _delete_archived(through_seq: int, batch_size: int) -> int:
    return delete_in_batches(AuditEvent.objects.filter(seq__lte=through_seq), batch_size)


_ARCHIVING = "gatehouse:audit-archiving"


def audit_archive(*, older_than: datetime, batch_size: int | None = None, via: str = "task") -> ArchiveReport:
    """Archive every event created before ``older_than`` that follows the last checkpoint, then delete them.

    The segment is verified first: a broken chain is never archived (that would launder the tampering). One archiver
    at a time across processes (the scheduled task and ``manage.py purge`` may overlap); the other one does nothing.
    """
    if not cache.add(_ARCHIVING, 1, 3600):
        return ArchiveReport(None, 0, 0)
    try:
        return _archive(older_than, batch_size or settings.RETENTION_BATCH_SIZE, via)
    finally:
        cache.delete(_ARCHIVING)


def _archive(older_than: datetime, batch_size: int, via: str) -> ArchiveReport:
    audit_chain_pending()
    checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
    start_seq, start_hash = (checkpoint.seq, checkpoint.hash) if checkpoint else (0, "")
    leftovers = _delete_archived(start_seq, batch_size)  # a previous run may have stopped half-way
    last = AuditEvent.objects.filter(seq__gt=start_seq, created_at__lt=older_than).order_by("-seq").first()
    if last is None:
        return ArchiveReport(None, 0, leftovers)
    segment = AuditEvent.objects.filter(seq__gt=start_seq, seq__lte=last.seq).order_by("seq")
    for event, problem in chain_links(segment.iterator(chunk_size=CHUNK), seq=start_seq, prev=start_hash):
        if problem:
            raise AuditChainBroken(f"Refusing to archive a broken chain: {problem}.")
    directory = Path(settings.AUDIT_ARCHIVE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"audit-{start_seq + 1:012d}-{last.seq:012d}.jsonl"
    sha256, first, count, last_hash = _write_archive(directory / name, segment.iterator(chunk_size=CHUNK))
    with transaction.atomic():
        checkpoint = AuditCheckpoint.objects.create(
            seq=last.seq, hash=last_hash, first_seq=first, count=count, archive_name=name, archive_sha256=sha256
        )
        audit_record(
            "audit.archive",
            via=via,
            target=checkpoint,
            data={"first_seq": first, "last_seq": last.seq, "count": count, "archive": name, "sha256": sha256},
        )
    deleted = _delete_archived(last.seq, batch_size)
    return ArchiveReport(checkpoint, count, leftovers + deleted)


# Usage logs belong to tokens/; purged here when that model exists, by whichever of these timestamps it has.
USAGE_MODEL = "tokens.TokenUsage"
_USAGE_TIME_FIELDS = ("created_at", "used_at", "timestamp", "at")


def _usage_purge(older_than: datetime, batch_size: int) -> int | None:
    try:
        model = apps.get_model(USAGE_MODEL)
    except LookupError:
        return None
    names = {f.name for f in model._meta.get_fields()}
    field = next((name for name in _USAGE_TIME_FIELDS if name in names), None)
    if field is None:
        return None
    return delete_in_batches(model.objects.filter(**{f"{field}__lt": older_than}), batch_size)


def retention_run(*, now: datetime | None = None, batch_size: int | None = None, via: str = "task") -> dict[str, int]:
    """Apply every retention period (RETENTION_*_DAYS; 0 keeps for ever). Returns rows removed per kind."""
    from catalog.health_services import health_history_purge

    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    removed: dict[str, int] = {}
    if settings.RETENTION_HEALTH_DAYS:
        removed["health_checks"] = health_history_purge(
            older_than=now - timedelta(days=settings.RETENTION_HEALTH_DAYS), batch_size=batch_size
        )
    if settings.RETENTION_USAGE_DAYS:
        usage = _usage_purge(now - timedelta(days=settings.RETENTION_USAGE_DAYS), batch_size)
        if usage is not None:
            removed["usage"] = usage
    if settings.CAPTURE_RETENTION_DAYS:
        removed["captured_messages"] = captured_messages_purge(
            older_than=now - timedelta(days=settings.CAPTURE_RETENTION_DAYS), batch_size=batch_size
        )
    if settings.RETENTION_AUDIT_DAYS:
        report = audit_archive(
            older_than=now - timedelta(days=settings.RETENTION_AUDIT_DAYS), batch_size=batch_size, via=via
        )
        removed["audit_events"] = report.deleted
    return removed
