"""Reading the audit trail: chain verification and export."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from audit.chain import HASHED_FIELDS, event_fields, event_hash
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent

CHUNK = 2000


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    start_seq: int
    last_seq: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""


def audit_event_record(event: AuditEvent) -> dict[str, Any]:
    """One event as an export/archive line: the hashed fields, then its id and hash."""
    return {**event_fields(event), "id": event.pk, "hash": event.hash}


def chain_links(events: Iterable[Any], *, seq: int, prev: str) -> Iterator[tuple[Any, str]]:
    """Each event with what is wrong with it ('' when it links correctly), following the chain from (seq, prev)."""
    for event in events:
        if event.seq != seq + 1:
            yield event, f"event #{seq + 1} is missing (the next stored event is #{event.seq})"
        elif event.prev_hash != prev:
            yield event, f"event #{event.seq} does not link to the hash of event #{seq}"
        elif event_hash(event) != event.hash:
            yield event, f"event #{event.seq} was changed after it was written"
        else:
            yield event, ""
        seq, prev = event.seq, event.hash


def audit_chain_verify() -> ChainReport:
    """Prove the stored chain from the latest checkpoint to the head, or name the first broken link.

    The head is read first, so events chained while this runs are simply not covered; events not chained yet
    (committed a moment ago) are not part of the chain until audit_chain_pending links them.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
    checkpoint = AuditCheckpoint.objects.order_by("-seq").first()
    seq, prev = (checkpoint.seq, checkpoint.hash) if checkpoint else (0, "")
    start, checked = seq, 0
    events = AuditEvent.objects.filter(seq__gt=seq, seq__lte=head_seq).order_by("seq").iterator(chunk_size=CHUNK)
    for event, problem in chain_links(events, seq=seq, prev=prev):
        if problem:
            return ChainReport(False, checked, start, seq, event.seq, event.pk, problem)
        checked += 1
        seq, prev = event.seq, event.hash
    if (seq, prev) != (head_seq, head_hash) and not (head is None and seq == start):
        return ChainReport(
            False, checked, start, seq, seq + 1, None,
            f"the chain head is at #{head_seq} but the stored events end at #{seq}: newer events were deleted",
        )
    return ChainReport(True, checked, start, seq)


def _archive_events(path: Path) -> Iterator[SimpleNamespace]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            fields = {name: record[name] for name in HASHED_FIELDS}
            fields["created_at"] = parse_datetime(record["created_at"])
            yield SimpleNamespace(**fields, hash=record["hash"], pk=record.get("id"))


def audit_archives_verify(directory: Path | None = None) -> ChainReport:
    """Prove the archived segments: each file's digest matches its checkpoint and its events chain on."""
    directory = Path(directory or settings.AUDIT_ARCHIVE_DIR)
    seq, prev, checked = 0, "", 0
    for checkpoint in AuditCheckpoint.objects.order_by("seq"):
        path = directory / checkpoint.archive_name
        if not path.is_file():
            return ChainReport(False, checked, 0, seq, checkpoint.first_seq, None, f"archive {path} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != checkpoint.archive_sha256:
            return ChainReport(False, checked, 0, seq, checkpoint.first_seq, None, f"archive {path} was modified")
        for event, problem in chain_links(_archive_events(path), seq=seq, prev=prev):
            if problem:
                return ChainReport(False, checked, 0, seq, event.seq, event.pk, f"{path.name}: {problem}")
            checked += 1
            seq, prev = event.seq, event.hash
        if (seq, prev) != (checkpoint.seq, checkpoint.hash):
            return ChainReport(False, checked, 0, seq, seq, None, f"{path.name} does not end at checkpoint #{checkpoint.seq}")
    return ChainReport(True, checked, 0, seq)


def audit_events_since(since: datetime | None = None, until: datetime | None = None) -> Iterator[AuditEvent]:
    events = AuditEvent.objects.order_by("seq")
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events.iterator(chunk_size=CHUNK)
