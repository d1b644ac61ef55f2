from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_ensure_platform_admin_from_env, sender=self)


def _ensure_platform_admin_from_env(**kwargs) -> None:
    from accounts.services import platform_admin_ensure_from_env

    platform_admin_ensure_from_env(stdout=kwargs.get("stdout"))
