from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.federation import upstream_sync
from catalog.management.commands._upstreams import selected_upstreams


class Command(BaseCommand):
    help = (
        "Re-discover upstreams now (what the scheduled federation sync does) and print what changed: new, changed and "
        "vanished tools, prompts, resources and resource templates. Every enabled upstream unless --upstream is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--upstream", action="append", help="Slug or name; repeat for several.")

    def handle(self, *args, upstream=None, **options):
        upstreams = selected_upstreams(upstream)
        failed = 0
        for index, item in enumerate(upstreams, 1):
            report, diff = upstream_sync(upstream=item, via="cli")
            prefix = f"[{index}/{len(upstreams)}] {item.slug}"
            if not report.ok:
                failed += 1
                self.stderr.write(f"{prefix}: failed: {report.error}")
            elif diff.empty:
                self.stdout.write(f"{prefix}: unchanged")
            else:
                parts = [
                    f"{label} {kind}: {', '.join(names)}"
                    for label, bucket in (("new", diff.new), ("changed", diff.changed), ("vanished", diff.vanished))
                    for kind, names in bucket.items()
                ]
                self.stdout.write(f"{prefix}: " + "; ".join(parts))
        if failed:
            raise CommandError(f"{failed} upstream(s) could not be synced.")
