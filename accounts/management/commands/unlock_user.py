from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.services import user_get_by_email, user_unlock


class Command(BaseCommand):
    help = "Unlock an account locked after too many failed logins (for when no admin can log in to do it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        try:
            user = user_get_by_email(email=email)
        except User.DoesNotExist as exc:
            raise CommandError(str(exc)) from None
        user_unlock(user=user, actor=None)
        self.stdout.write(f"Unlocked {user.email}.\n")
