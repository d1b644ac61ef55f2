from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog import services
from catalog.management.commands._upstreams import selected_upstreams


class Command(BaseCommand):
    help = "Define (or change) a tool of a REST upstream and print its exposed name."

    def add_arguments(self, parser):
        parser.add_argument("--upstream", required=True, help="The REST upstream's name or slug.")
        parser.add_argument("--name", required=True, help="The tool's name on the upstream (exposed with its prefix).")
        parser.add_argument("--method", default="GET", choices=["GET", "POST", "PUT", "PATCH", "DELETE"])
        parser.add_argument("--path", required=True, help='Appended to the upstream URL, e.g. "/items/{id}".')
        parser.add_argument("--query", action="append", default=[], help="An argument sent as a query parameter (repeatable).")
        parser.add_argument(
            "--header", action="append", default=[], metavar="HEADER=ARGUMENT",
            help="Send an argument as a request header, e.g. X-Trace=trace (repeatable).",
        )
        parser.add_argument("--body", default="", help="The argument that is the whole JSON body (default: the "
                            "arguments not used elsewhere, for POST, PUT and PATCH).")
        parser.add_argument("--schema-file", type=Path, help="JSON Schema of the arguments (an object schema).")
        parser.add_argument("--title", default="")
        parser.add_argument("--description", default="")
        parser.add_argument("--timeout", type=int, help="Seconds; default: the upstream's timeout.")

    def handle(self, *args, **options):
        upstream = selected_upstreams([options["upstream"]])[0]
        headers = {}
        for pair in options["header"]:
            header, sep, argument = pair.partition("=")
            if not sep or not header or not argument:
                raise CommandError(f"--header takes HEADER=ARGUMENT, not {pair!r}.")
            headers[argument] = header
        schema = None
        if options["schema_file"]:
            try:
                schema = json.loads(options["schema_file"].read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read the schema file: {exc}") from None
        try:
            tool = services.rest_tool_define(
                upstream=upstream, name=options["name"], method=options["method"], path=options["path"],
                query=options["query"], headers=headers, body_argument=options["body"], input_schema=schema,
                title=options["title"], description=options["description"], timeout_seconds=options["timeout"],
            )
        except services.CatalogError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Tool {tool.exposed_name}: {options['method']} {upstream.url.rstrip('/')}{options['path']}")
