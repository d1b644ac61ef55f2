from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from catalog.config_io import ConfigError, config_export


class Command(BaseCommand):
    help = (
        "Write the catalog (upstreams, tools, prompts, resources, resource templates, virtual servers and their "
        "compositions) as JSON. Upstream credentials and stdio environments are left out unless --encrypt-for KEY is "
        "given (a 32-byte key in urlsafe base64): they are then sealed with AES-GCM for whoever holds that key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="Write to this file instead of standard output.")
        parser.add_argument(
            "--encrypt-for", metavar="KEY",
            help="Include secrets, encrypted for this key (write --encrypt-for=KEY: a key may start with '-').",
        )

    def handle(self, *args, output=None, encrypt_for=None, **options):
        try:
            data = config_export(encrypt_for=encrypt_for)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        if output:
            with open(output, "w", encoding="utf-8") as out:
                out.write(text)
        else:
            self.stdout.write(text, ending="")
        counts = ", ".join(f"{len(data[k])} {k}" for k in ("upstreams", "tools", "prompts", "resources", "servers"))
        self.stderr.write(f"Exported {counts}{' with encrypted secrets' if 'secrets' in data else ', no secrets'}.")
