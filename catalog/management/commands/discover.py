from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog import services
from catalog.models import Upstream


class Command(BaseCommand):
    help = "Discover one upstream (--upstream NAME) or every enabled upstream, and report what changed."

    def add_arguments(self, parser):
        parser.add_argument("--upstream", help="Upstream name or slug.")

    def handle(self, *args, **options):
        upstreams = Upstream.objects.filter(enabled=True)
        if options["upstream"]:
            upstreams = Upstream.objects.filter(name=options["upstream"]) | Upstream.objects.filter(
                slug=options["upstream"]
            )
            if not upstreams.exists():
                raise CommandError(f"No upstream named {options['upstream']!r}.")
        failed = 0
        for upstream in upstreams:
            report = services.upstream_discover(upstream=upstream)
            if report.ok:
                self.stdout.write(
                    f"{upstream.name}: {len(report.tools)} tools, {report.resources} resources, "
                    f"{report.prompts} prompts, {report.vanished} vanished"
                )
            else:
                failed += 1
                self.stderr.write(f"{upstream.name}: discovery failed: {report.error}")
        if failed:
            raise CommandError(f"{failed} upstream(s) failed discovery.")
