"""The one signal: a new user gets a personal team. The logic is in teams.services."""
from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="teams.personal_team")
def user_created(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        from teams.services import team_create_personal

        team_create_personal(user=instance)
