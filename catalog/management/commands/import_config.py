from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.config_io import STRATEGIES, ConfigError, config_import


class Command(BaseCommand):
    help = (
        "Apply a file written by export_config, in one transaction. Existing upstreams, entries and servers (matched "
        "by slug, or upstream and name) are handled by --on-conflict: skip them, update them, or fail (the default, "
        "changing nothing). --dry-run reports what would change and changes nothing. Owners are matched by email; "
        "--owner names the user who owns what has no matching owner here."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON file to import ('-' for standard input).")
        parser.add_argument("--on-conflict", choices=STRATEGIES, default="fail")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument(
            "--decrypt-with", metavar="KEY",
            help="The key the export's secrets were encrypted for (write --decrypt-with=KEY: it may start with '-').",
        )
        parser.add_argument("--owner", metavar="EMAIL", help="Owner for entries whose owner does not exist here.")

    def handle(self, *args, file, on_conflict, dry_run, decrypt_with=None, owner=None, **options):
        try:
            with open(0 if file == "-" else file, encoding="utf-8") as source:
                data = json.load(source)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        fallback = None
        if owner:
            fallback = get_user_model().objects.filter(email=owner).first()
            if fallback is None:
                raise CommandError(f"No user {owner!r}.")
        try:
            report = config_import(
                data=data, strategy=on_conflict, dry_run=dry_run, decrypt_with=decrypt_with, owner_fallback=fallback
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        summary = json.dumps(report.as_data(), sort_keys=True)
        self.stdout.write(f"{'Dry run, nothing changed' if report.dry_run else 'Imported'}: {summary}")
