from __future__ import annotations

from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tokens import checks, schema  # noqa: F401 - registers the system checks and OpenAPI security schemes
