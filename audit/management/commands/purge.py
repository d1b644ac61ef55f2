from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.retention import AuditChainBroken, retention_run


class Command(BaseCommand):
    help = (
        "Apply the retention periods now (what the scheduled task does): health history older than "
        "RETENTION_HEALTH_DAYS, usage logs older than RETENTION_USAGE_DAYS and captured MCP traffic older than "
        "CAPTURE_RETENTION_DAYS are deleted; audit events older than "
        "RETENTION_AUDIT_DAYS are archived to AUDIT_ARCHIVE_DIR with a checkpoint, then removed. Rows go in batches "
        "of --batch-size per transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=settings.RETENTION_BATCH_SIZE)

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            removed = retention_run(batch_size=batch_size, via="cli")
        except AuditChainBroken as exc:
            raise CommandError(f"{exc} Run audit_verify.") from None
        self.stdout.write(", ".join(f"{kind}: {count} removed" for kind, count in removed.items()) or "Nothing to do.")
