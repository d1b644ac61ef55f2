"""Receivers that turn Django's and allauth's authentication signals into AuthEvents. Connected in
AccountsConfig.ready(); each only hands over to accounts.services."""
from __future__ import annotations

from accounts import services
from accounts.backends import LOCKED_UNTIL_ATTR
from accounts.models import AuthEvent


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    services.login_success_register(user=user, request=request)


def on_user_logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        services.auth_event_record(kind=AuthEvent.Kind.LOGOUT, request=request, user=user)


def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    email = credentials.get("email") or credentials.get("username") or ""
    locked_until = services.login_failure_register(email=email, request=request)
    if locked_until is not None and request is not None:
        # Lets the login forms say the account is locked instead of "wrong password".
        setattr(request, LOCKED_UNTIL_ATTR, locked_until)


def on_user_pre_save(sender, instance, **kwargs) -> None:
    # set_password() leaves the raw password in _password until save(); that is the one trace every path that
    # changes a password (admin, allauth change/reset, createsuperuser, changepassword, shell) has in common.
    instance._gatehouse_password_changed = instance._password is not None and not instance._state.adding


def on_user_post_save(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:
        return
    if created:
        services.auth_event_record(kind=AuthEvent.Kind.REGISTERED, user=instance)
    elif getattr(instance, "_gatehouse_password_changed", False):
        instance._gatehouse_password_changed = False
        services.auth_event_record(kind=AuthEvent.Kind.PASSWORD_CHANGED, user=instance)


def on_allauth_user_logged_in(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is None:
        return
    services.sso_group_rules_apply(
        user=user, provider=sociallogin.account.provider, claims=services.sso_claims(sociallogin.account.extra_data)
    )
