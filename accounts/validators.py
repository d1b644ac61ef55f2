"""Password policy of our own: complexity, stated in words a person can act on."""
from __future__ import annotations

from django.core.exceptions import ValidationError

_CLASSES = (
    ("lowercase letters", lambda ch: ch.islower()),
    ("uppercase letters", lambda ch: ch.isupper()),
    ("digits", lambda ch: ch.isdigit()),
    ("symbols", lambda ch: not ch.isalnum()),
)


class ComplexityValidator:
    """Needs characters from at least ``min_classes`` of: lowercase, uppercase, digits, symbols."""

    def __init__(self, min_classes: int = 3) -> None:
        if not 1 <= min_classes <= len(_CLASSES):
            raise ValueError(f"min_classes must be between 1 and {len(_CLASSES)}.")
        self.min_classes = min_classes

    def validate(self, password: str, user=None) -> None:
        present = [name for name, test in _CLASSES if any(test(ch) for ch in password)]
        if len(present) < self.min_classes:
            missing = [name for name, _ in _CLASSES if name not in present]
            raise ValidationError(
                "This password needs characters from at least %(min)d of these kinds: %(kinds)s. "
                "Add some %(missing)s.",
                code="password_too_simple",
                params={
                    "min": self.min_classes,
                    "kinds": ", ".join(name for name, _ in _CLASSES),
                    "missing": " or ".join(missing),
                },
            )

    def get_help_text(self) -> str:
        return (
            f"Your password must mix at least {self.min_classes} of: lowercase letters, uppercase letters, digits, "
            "symbols."
        )
