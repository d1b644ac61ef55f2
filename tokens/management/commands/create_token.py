from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import user_get_by_email
from catalog.models import VirtualServer
from tokens import services


class Command(BaseCommand):
    help = "Create an API token for a user. The token is printed once, on the last line of stdout."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--server", action="append", default=[], help="Restrict the token to this server slug.")
        parser.add_argument("--expires-days", type=int)
        parser.add_argument("--name", default="cli")

    def handle(self, *args, **options):
        try:
            user = user_get_by_email(email=options["email"])
        except Exception as exc:  # noqa: BLE001 - DoesNotExist
            raise CommandError(str(exc)) from None
        servers = list(VirtualServer.objects.filter(slug__in=options["server"]))
        unknown = sorted(set(options["server"]) - {server.slug for server in servers})
        if unknown:
            raise CommandError(f"Unknown server(s): {', '.join(unknown)}")
        try:
            token, raw = services.token_create(
                user=user, name=options["name"], servers=servers, expires_days=options["expires_days"]
            )
        except services.TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created token {token.name!r} (id {token.pk}) for {user.email}; it is shown only once:")
        self.stdout.write(raw)
