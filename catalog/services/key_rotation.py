"""Re-encrypting stored upstream secrets under the active key."""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field

from django.db import transaction

from audit.services import audit_record
from catalog.credentials import CONNECTION_SEALED_FIELDS, SEALED_FIELDS
from catalog.models import Upstream, UpstreamConnection
from config.crypto import SecretDecryptionError, active_key_id, reseal


@dataclass
class ResealReport:
    resealed: int = 0
    current: int = 0
    unreadable: list[str] = dataclass_field(default_factory=list)


def upstream_secrets_reseal(*, batch_size: int = 200) -> ResealReport:
    """Re-encrypt every sealed upstream secret (upstream credentials and environments, users' upstream OAuth
    tokens) under the first key of GATEHOUSE_ENCRYPTION_KEYS.

    Batches of ``batch_size`` rows, each in its own transaction with the rows locked, so a long rotation neither
    holds one huge transaction nor races an edit. Values already under the active key are left alone (idempotent);
    a value no configured key opens is reported by row name and left unchanged.
    """
    report = ResealReport()
    for model, fields in ((Upstream, SEALED_FIELDS), (UpstreamConnection, CONNECTION_SEALED_FIELDS)):
        _reseal_rows(model, fields, report, batch_size)
    with transaction.atomic():
        audit_record(
            "encryption.rotate",
            data={"active_id": active_key_id(), "resealed": report.resealed, "current": report.current,
                  "unreadable": len(report.unreadable)},
        )
    return report


def _reseal_rows(model, fields, report: ResealReport, batch_size: int) -> None:
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(model.objects.select_for_update().filter(pk__gt=last_pk).order_by("pk")[:batch_size])
            if not batch:
                return
            for row in batch:
                changed: dict[str, str] = {}
                for field_name, purpose in fields:
                    try:
                        resealed = reseal(getattr(row, field_name), purpose=purpose)
                    except SecretDecryptionError:
                        report.unreadable.append(f"{row} ({field_name})")
                        continue
                    if resealed is None:
                        report.current += bool(getattr(row, field_name))
                    else:
                        changed[field_name] = resealed
                if changed:
                    # update(), not save(): a key rotation is not an edit of the row (updated_at unchanged).
                    model.objects.filter(pk=row.pk).update(**changed)
                    report.resealed += len(changed)
            last_pk = batch[-1].pk
