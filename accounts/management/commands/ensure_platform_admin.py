from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import platform_admin_ensure_from_env, platform_admin_ensure_local


class Command(BaseCommand):
    help = (
        "Make sure a platform admin exists. With PLATFORM_ADMIN_EMAIL/PLATFORM_ADMIN_PASSWORD it is that account; "
        "otherwise (local mode only) an admin@localhost account with a random password, printed once."
    )

    def handle(self, *args, **options) -> None:
        if platform_admin_ensure_from_env(stdout=self.stdout) is not None:
            return
        if not settings.DEBUG:
            self.stderr.write("Set PLATFORM_ADMIN_EMAIL and PLATFORM_ADMIN_PASSWORD to create the platform admin.")
            return
        user, password = platform_admin_ensure_local(email=settings.PLATFORM_ADMIN_EMAIL or "admin@localhost")
        if password is None:
            self.stdout.write(f"Platform admin: {user.email} (password unchanged).")
            return
        self.stdout.write(
            self.style.WARNING(
                f"Created platform admin {user.email} with password {password}\n"
                "This password is shown only now. Change it in the admin."
            )
        )
