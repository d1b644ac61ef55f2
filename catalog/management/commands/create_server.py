from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import platform_admin_get, user_get_by_email
from catalog import services
from catalog.models import Prompt, Resource, Tool, Upstream


class Command(BaseCommand):
    help = (
        "Compose a virtual server from whole upstreams (their tools, prompts and resources) and/or single tools; "
        "prints its MCP path."
    )

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--upstream", action="append", default=[], help="Include every tool, prompt and resource of this upstream."
        )
        parser.add_argument("--tool", action="append", default=[], help="Include this tool (exposed name).")
        parser.add_argument("--no-prefix", action="store_true", help="Expose tools under their upstream names.")
        parser.add_argument(
            "--allow-anonymous", action="store_true",
            help="Serve MCP clients that send no token (e.g. the conformance suite). Flagged by the posture check.",
        )
        parser.add_argument(
            "--capture-traffic", action="store_true",
            help="Record this server's MCP messages (secrets redacted) for the admin's traffic inspector.",
        )
        parser.add_argument("--owner", help="Owner's email; defaults to the platform admin.")
        parser.add_argument("--visibility", choices=["private", "team", "public"], default="private")

    def handle(self, *args, **options):
        try:
            owner = user_get_by_email(email=options["owner"]) if options["owner"] else platform_admin_get()
        except Exception as exc:  # noqa: BLE001 - DoesNotExist of either lookup
            raise CommandError(str(exc)) from None
        tools: list[Tool] = []
        prompts: list[Prompt] = []
        resources: list[Resource] = []
        for name in options["upstream"]:
            upstream = Upstream.objects.filter(name=name).first() or Upstream.objects.filter(slug=name).first()
            if upstream is None:
                raise CommandError(f"No upstream named {name!r}.")
            present = {"upstream": upstream, "missing_since__isnull": True}
            tools.extend(Tool.objects.filter(**present).select_related("upstream"))
            prompts.extend(Prompt.objects.filter(**present).select_related("upstream"))
            resources.extend(Resource.objects.filter(**present).select_related("upstream"))
        for name in options["tool"]:
            tool = Tool.objects.filter(exposed_name=name).select_related("upstream").first()
            if tool is None:
                raise CommandError(f"No tool named {name!r}.")
            tools.append(tool)
        def named(entries) -> list[tuple]:
            unique = {entry.pk: entry for entry in entries}.values()
            return [(entry, entry.original_name if options["no_prefix"] else "") for entry in unique]

        try:
            server = services.server_create(
                owner=owner,
                slug=options["slug"],
                name=options["name"],
                tools=named(tools),
                prompts=named(prompts),
                resources=[(resource, "") for resource in {r.pk: r for r in resources}.values()],
                visibility=options["visibility"],
                allow_anonymous=options["allow_anonymous"],
                capture_traffic=options["capture_traffic"],
            )
        except services.CatalogError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Virtual server {server.slug} with {len(named(tools))} tools, {len(named(prompts))} prompts and "
            f"{len(resources)} resources at /servers/{server.slug}/mcp"
        )
