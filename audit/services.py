"""Writing the audit trail. Every event is appended to one hash chain under a lock (audit.chain, AuditChainHead)."""
from __future__ import annotations

import ipaddress
import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from audit.chain import event_hash
from audit.models import AuditChainHead, AuditEvent, CapturedMessage
from audit.redaction import payload_redacted
from config.batching import delete_in_batches
from teams.principal import Principal

logger = logging.getLogger(__name__)

_SECRET_KEY = re.compile(r"(pass|secret|token|key|authorization|credential|cookie)", re.IGNORECASE)
MASK = "********"
VIA_VALUES = frozenset(AuditEvent.Via.values)


def mask_secrets(data: Any) -> Any:
    """Replace the values of secret-looking keys, at any depth."""
    if isinstance(data, dict):
        return {key: MASK if _SECRET_KEY.search(str(key)) else mask_secrets(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [mask_secrets(item) for item in data]
    return data


def _stored_json(value: Any) -> Any:
    """The value as it will read back from a JSON column: the hash is computed over exactly that."""
    if value is None:
        return None
    return json.loads(json.dumps(mask_secrets(value), cls=DjangoJSONEncoder))


def _clean_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    # The form the database column stores (Django's normalisation), so the hash matches what reads back.
    return clean_ipv6_address(str(address)) if address.version == 6 else str(address)


def _actor(actor, token) -> tuple[str, int | None, str, int | None]:
    """(kind, actor id, label, token id). ``actor`` is a user, a Principal, or None for the system."""
    token_id = getattr(token, "pk", token)
    if actor is None:
        return AuditEvent.ActorKind.SYSTEM, None, "system", token_id
    if isinstance(actor, Principal):
        token_id = token_id or actor.token_id
        kind = AuditEvent.ActorKind.TOKEN if token_id else AuditEvent.ActorKind.USER
        return kind, actor.user_id, actor.email, token_id
    kind = AuditEvent.ActorKind.TOKEN if token_id else AuditEvent.ActorKind.USER
    return kind, actor.pk, str(actor), token_id


def request_origin(request) -> dict[str, Any]:
    """The ``ip`` and ``user_agent`` keyword arguments for audit_record, read from a Django request."""
    if request is None:
        return {}
    return {"ip": request.META.get("REMOTE_ADDR"), "user_agent": request.META.get("HTTP_USER_AGENT", "")}


def _lock_head() -> AuditChainHead:
    """Take the chain lock: the UPDATE row-locks the head on PostgreSQL and takes SQLite's write lock, so the read
    that follows sees the true head and no other process chains until this transaction ends."""
    if not AuditChainHead.objects.filter(pk=1).update(seq=F("seq")):
        try:
            with transaction.atomic():
                AuditChainHead.objects.create(pk=1)
        except IntegrityError:
            pass  # another process created it first
        AuditChainHead.objects.filter(pk=1).update(seq=F("seq"))
    return AuditChainHead.objects.select_for_update().get(pk=1)


def audit_chain_pending(*, batch_size: int = 500) -> int:
    """Link committed events that are not chained yet, in id order, under the chain lock; returns how many.

    Runs in its own short transactions, after the writing transaction has committed: the chain lock is then never
    held while a service holds other row locks, so audit cannot deadlock with catalog or token writes.
    """
    chained = 0
    while True:
        with transaction.atomic():
            head = _lock_head()
            pending = list(AuditEvent.objects.filter(seq__isnull=True).order_by("id")[:batch_size])
            for event in pending:
                event.seq, event.prev_hash = head.seq + 1, head.hash
                event.hash = event_hash(event)
                event.save(update_fields=["seq", "prev_hash", "hash"])
                head.seq, head.hash = event.seq, event.hash
            if pending:
                AuditChainHead.objects.filter(pk=1).update(seq=head.seq, hash=head.hash)
        chained += len(pending)
        if len(pending) < batch_size:
            return chained


@transaction.atomic
def audit_record(
    action: str,
    *,
    actor=None,
    via: str = "",
    target=None,
    data: dict | None = None,
    token=None,
    ip: str | None = None,
    user_agent: str = "",
    before: dict | None = None,
    after: dict | None = None,
    security: bool = False,
    request=None,
) -> AuditEvent:
    """Record one audit event; call it inside the writing transaction so the event commits (or not) with the write.
    Once committed it is linked into the hash chain (audit_chain_pending).

    ``actor`` is a user, a Principal, or None for the system; ``token`` (an ApiToken or its id) makes the actor kind
    "token". ``request`` (a Django request) supplies ``ip`` and ``user_agent`` when they are not given. Secret-looking
    keys in ``data``, ``before`` and ``after`` are masked.
    """
    if via and via not in VIA_VALUES:
        # A label, not a control: keep the event (never drop audit) but make the odd channel visible in the log.
        logger.warning("Audit event %s recorded with an unknown channel %r", action, via)
    origin = request_origin(request)
    ip, user_agent = ip or origin.get("ip"), user_agent or origin.get("user_agent", "")
    kind, actor_id, label, token_id = _actor(actor, token)
    event = AuditEvent.objects.create(
        created_at=timezone.now(),
        action=action[:64],
        actor_kind=kind,
        actor_id=actor_id,
        actor_label=label[:255],
        token_id=token_id,
        via=via[:16],
        ip=_clean_ip(ip),
        user_agent=(user_agent or "")[:512],
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk)[:64] if target is not None else "",
        target_label=str(target)[:255] if target is not None else "",
        data=_stored_json(data or {}),
        before=_stored_json(before),
        after=_stored_json(after),
        security=security,
    )
    # robust: the write has committed by then; a failure to chain is retried by the next event or by audit_verify.
    transaction.on_commit(audit_chain_pending, robust=True)
    return event


def audit_security_event(
    action: str,
    *,
    actor=None,
    via: str = "",
    target=None,
    data: dict | None = None,
    token=None,
    ip: str | None = None,
    user_agent: str = "",
    request=None,
) -> AuditEvent:
    """A security event (permission denied, token use blocked, login failure, lockout), flagged ``security``.

    Call it outside any transaction that the refusal rolls back, or the record rolls back with it. From async code
    wrap it in ``sync_to_async``.
    """
    return audit_record(
        action, actor=actor, via=via, target=target, data=data, token=token, ip=ip, user_agent=user_agent,
        request=request, security=True,
    )


def captured_messages_write(*, captures: list) -> int:
    """Store captured MCP messages (audit.capture.Capture), each payload redacted and clamped first."""
    rows = []
    for capture in captures:
        payload, truncated = payload_redacted(capture.text, max_bytes=settings.CAPTURE_MAX_PAYLOAD_BYTES)
        rows.append(CapturedMessage(
            created_at=capture.created_at, direction=capture.direction, session_digest=capture.session_digest,
            method=capture.method[:128], name=capture.name[:512], rpc_id=capture.rpc_id[:128], user_id=capture.user_id,
            principal_label=capture.principal_label[:255], token_id=capture.token_id,
            server_slug=capture.server_slug, upstream_slug=capture.upstream_slug, duration_ms=capture.duration_ms,
            request_bytes=capture.request_bytes, response_bytes=capture.response_bytes, error_code=capture.error_code,
            payload=payload, payload_truncated=truncated,
        ))
    CapturedMessage.objects.bulk_create(rows)
    return len(rows)


def captured_messages_purge(*, older_than, batch_size: int | None = None) -> int:
    """Delete captured messages created before ``older_than``, a bounded batch per transaction."""
    return delete_in_batches(CapturedMessage.objects.filter(created_at__lt=older_than), batch_size)
