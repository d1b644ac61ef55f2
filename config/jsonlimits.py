"""Caps on client JSON that the parser does not enforce: nesting depth (deep nesting exhausts the stack of every
recursive consumer downstream) and the number of members."""
from __future__ import annotations

from typing import Any

from django.conf import settings


class JsonTooComplex(ValueError):
    pass


def json_check_limits(value: Any, *, max_depth: int | None = None, max_members: int | None = None) -> None:
    """Raise JsonTooComplex when ``value`` nests deeper than ``max_depth`` or holds more than ``max_members`` values.
    Iterative, so a hostile document cannot exhaust the stack while being checked."""
    max_depth = max_depth or settings.GATEHOUSE_MAX_JSON_DEPTH
    max_members = max_members or settings.GATEHOUSE_MAX_JSON_MEMBERS
    stack: list[tuple[Any, int]] = [(value, 1)]
    members = 0
    while stack:
        current, depth = stack.pop()
        members += 1
        if members > max_members:
            raise JsonTooComplex(f"JSON holds more than {max_members} values.")
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > max_depth:
            raise JsonTooComplex(f"JSON nests deeper than {max_depth} levels.")
        stack.extend((child, depth + 1) for child in children)
