from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tokens.models import ApiToken
from tokens.services import token_revoke


class Command(BaseCommand):
    help = (
        "Revoke an API token at once, on every Gatehouse process: give its id or its prefix (gth_XXXXXXXX, the first "
        "12 characters shown in lists). Revoking an already revoked token changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("token", help="Token id, or its gth_ prefix.")

    def handle(self, *args, token: str, **options):
        lookup = token.removeprefix(ApiToken.PREFIX)[:8]
        found = ApiToken.objects.filter(pk=int(token)).first() if token.isdigit() else None
        found = found or (ApiToken.objects.filter(lookup=lookup).first() if len(lookup) == 8 else None)
        if found is None:
            raise CommandError(f"No token {token!r}.")
        already = found.revoked_at is not None
        token_revoke(token=found, actor=None)
        self.stdout.write(f"{found} {'was already revoked' if already else 'revoked'}.")
