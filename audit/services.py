from __future__ import annotations

import re
from typing import Any

from audit.models import AuditEvent

_SECRET_KEY = re.compile(r"(pass|secret|token|key|authorization|credential|cookie)", re.IGNORECASE)
MASK = "********"


def mask_secrets(data: Any) -> Any:
    """Replace the values of secret-looking keys, at any depth."""
    if isinstance(data, dict):
        return {key: MASK if _SECRET_KEY.search(str(key)) else mask_secrets(value) for key, value in data.items()}
    if isinstance(data, list):
        return [mask_secrets(item) for item in data]
    return data


def audit_record(action: str, *, actor=None, via: str = "", target=None, data: dict | None = None) -> AuditEvent:
    """Record one audit event; call it inside the writing transaction. ``actor`` None means the system."""
    if actor is None:
        kind, actor_id, label = AuditEvent.ActorKind.SYSTEM, None, "system"
    else:
        kind, actor_id, label = AuditEvent.ActorKind.USER, actor.pk, str(actor)
    return AuditEvent.objects.create(
        action=action,
        actor_kind=kind,
        actor_id=actor_id,
        actor_label=label[:255],
        via=via,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:255] if target is not None else "",
        data=mask_secrets(data or {}),
    )
