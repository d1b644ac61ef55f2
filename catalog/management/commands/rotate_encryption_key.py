from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog import services
from config.crypto import active_key_id


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under the first key of GATEHOUSE_ENCRYPTION_KEYS. Put the new key first, "
        "keep the old ones after it, run this, then drop the old keys. Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="Rows per transaction (default 200).")

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        report = services.upstream_secrets_reseal(batch_size=batch_size)
        self.stdout.write(
            f"Active key {active_key_id()!r}: re-encrypted {report.resealed} secret(s), "
            f"{report.current} already current, {len(report.unreadable)} unreadable."
        )
        if report.unreadable:
            raise CommandError(
                "No configured key opens: " + ", ".join(report.unreadable) + ". Add the missing key and run again."
            )
