from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from django.core.management.base import BaseCommand

from config.support import support_bundle_write


class Command(BaseCommand):
    help = (
        "Write a zip for a support request: versions, redacted settings, the security posture and recent logs "
        "(GATEHOUSE_LOG_DIR/*.log and any --log FILE), with passwords, tokens, keys and database URLs removed."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", type=Path, help="Zip file to write (default: gatehouse-support-<time>.zip).")
        parser.add_argument("--log", type=Path, action="append", default=[], help="Another log file to include.")
        parser.add_argument("--lines", type=int, default=2000, help="Lines kept from the end of each log.")

    def handle(self, *args, output: Path | None, log: list[Path], lines: int, **options) -> None:
        output = output or Path(f"gatehouse-support-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.zip")
        names = support_bundle_write(target=output, logs=log, log_lines=max(1, lines))
        self.stdout.write(f"Wrote {output} ({', '.join(names)}). Review it before sending it anywhere.")
