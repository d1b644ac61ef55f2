from __future__ import annotations

from django.conf import settings


def identity(request) -> dict:
    return {"PUBLIC_REGISTRATION_ENABLED": settings.PUBLIC_REGISTRATION_ENABLED}
