from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_archives_verify, audit_chain_verify
from audit.services import audit_chain_pending


class Command(BaseCommand):
    help = (
        "Prove the audit hash chain from the last retention checkpoint to the newest event, or name the first broken "
        "link (an edited, inserted or deleted event). Exits 1 when the chain is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("--archives", action="store_true", help="Also verify the archived segments on disk.")

    def handle(self, *args, archives: bool = False, **options):
        audit_chain_pending()  # link events committed a moment ago, so the check covers them
        reports = [("archives", audit_archives_verify())] if archives else []
        reports.append(("chain", audit_chain_verify()))
        for name, report in reports:
            if not report.ok:
                where = f" (event id {report.broken_id})" if report.broken_id else ""
                raise CommandError(f"Audit {name} broken at #{report.broken_seq}{where}: {report.reason}.")
            self.stdout.write(self.style.SUCCESS(
                f"Audit {name} intact: {report.checked} events verified (#{report.start_seq + 1} to #{report.last_seq})."
            ))
