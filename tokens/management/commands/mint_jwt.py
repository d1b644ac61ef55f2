from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from accounts.services import user_get_by_email
from catalog.models import VirtualServer
from teams.selectors import principal_for_user
from tokens.jwt import JwtError, jwt_mint


class Command(BaseCommand):
    help = "Mint a JWT for a user, for automation. The token is printed once, on the last line of stdout."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--server", action="append", default=None, help="Restrict the JWT to this server slug.")
        parser.add_argument("--lifetime", type=int, default=None, help="Minutes (default JWT_LIFETIME_MINUTES).")
        parser.add_argument("--public-only", action="store_true",
                            help="Claim no teams (public only); by default the user's teams are claimed.")

    def handle(self, *args, **options):
        try:
            user = user_get_by_email(email=options["email"])
        except Exception as exc:  # noqa: BLE001 - DoesNotExist
            raise CommandError(str(exc)) from None
        servers = options["server"]
        if servers:
            known = set(VirtualServer.objects.filter(slug__in=servers).values_list("slug", flat=True))
            unknown = sorted(set(servers) - known)
            if unknown:
                raise CommandError(f"Unknown server(s): {', '.join(unknown)}")
        if options["lifetime"] is not None and options["lifetime"] < 1:
            raise CommandError("--lifetime is at least one minute.")
        principal = principal_for_user(user)
        teams = [] if options["public_only"] else (None if principal.is_superuser else sorted(principal.team_ids))
        lifetime = timedelta(minutes=options["lifetime"]) if options["lifetime"] else None
        try:
            raw, claims = jwt_mint(user=user, lifetime=lifetime, servers=servers, teams=teams)
        except JwtError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"JWT for {user.email}, jti {claims['jti']}, expires at {claims['exp']}; shown only once:")
        self.stdout.write(raw)
