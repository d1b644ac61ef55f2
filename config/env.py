"""Typed readers for environment variables.

Ambiguous values are refused rather than guessed: a boolean is exactly ``true`` or ``false``, and a secret may come
from ``NAME`` or from the file named by ``NAME_FILE`` (never both).
"""
from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_UNSET = object()


def env_str(name: str, default: str | object = _UNSET) -> str:
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is _UNSET:
        raise ImproperlyConfigured(f"Set the {name} environment variable.")
    return default  # type: ignore[return-value]


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value == "true":
        return True
    if value == "false":
        return False
    raise ImproperlyConfigured(f"{name} must be exactly 'true' or 'false', not {value!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}.")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME or from the file named by NAME_FILE."""
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if file_name is not None:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name!r}, which cannot be read: {exc}") from None
    return direct if direct is not None else default
