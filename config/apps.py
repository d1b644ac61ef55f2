from __future__ import annotations

from django.apps import AppConfig


class GatehouseConfig(AppConfig):
    """Project-wide pieces that belong to no single app: posture checks and operator commands."""

    name = "config"
    label = "gatehouse"
    verbose_name = "Gatehouse"

    def ready(self) -> None:
        from config import checks  # noqa: F401 - registers the posture checks
