from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save, pre_save


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.account import signals as allauth_signals
        from django.contrib.auth import signals as auth_signals

        from accounts import admin_audit, signals
        from accounts.models import User

        post_migrate.connect(_ensure_platform_admin_from_env, sender=self)
        auth_signals.user_logged_in.connect(signals.on_user_logged_in, dispatch_uid="accounts.login")
        auth_signals.user_logged_out.connect(signals.on_user_logged_out, dispatch_uid="accounts.logout")
        auth_signals.user_login_failed.connect(signals.on_user_login_failed, dispatch_uid="accounts.login_failed")
        allauth_signals.user_logged_in.connect(signals.on_allauth_user_logged_in, dispatch_uid="accounts.sso_rules")
        pre_save.connect(signals.on_user_pre_save, sender=User, dispatch_uid="accounts.user_pre_save")
        post_save.connect(signals.on_user_post_save, sender=User, dispatch_uid="accounts.user_post_save")
        admin_audit.connect()


def _ensure_platform_admin_from_env(**kwargs) -> None:
    from accounts.services import platform_admin_ensure_from_env

    platform_admin_ensure_from_env(stdout=kwargs.get("stdout"))
