"""The hash chain's canonical form. Changing anything here invalidates every stored chain: don't."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

# The fields covered by an event's hash, in the order they are exported.
HASHED_FIELDS = (
    "seq",
    "created_at",
    "action",
    "actor_kind",
    "actor_id",
    "actor_label",
    "token_id",
    "via",
    "ip",
    "user_agent",
    "target_type",
    "target_id",
    "target_label",
    "data",
    "before",
    "after",
    "security",
    "prev_hash",
)


def _timestamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_fields(event: Any) -> dict[str, Any]:
    """The hashed fields of an event (model instance or anything with the same attributes) as JSON-ready data."""
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    fields["created_at"] = _timestamp(fields["created_at"])
    return fields


def canonical_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event: Any) -> str:
    return hashlib.sha256(canonical_json(event_fields(event)).encode()).hexdigest()
