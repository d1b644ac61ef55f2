"""Caps on client JSON that the parser does not enforce: nesting depth (deep nesting exhausts the stack of every
recursive consumer downstream), the number of members, and text that is not Unicode."""
from __future__ import annotations

import re
from typing import Any

from django.conf import settings


class JsonTooComplex(ValueError):
    pass


# Python's parser accepts "\ud800" escapes, but a string holding an unpaired surrogate cannot be encoded as UTF-8:
# echoing it (an id, an unknown name) or forwarding it upstream would fail far from here. I-JSON (RFC 7493) forbids it.
_SURROGATE = re.compile("[\ud800-\udfff]")


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
        if isinstance(current, str):
            if _SURROGATE.search(current):
                raise JsonTooComplex("JSON text holds an unpaired surrogate (not valid Unicode).")
            continue
        if isinstance(current, dict):
            children = current.values()
            if any(_SURROGATE.search(key) for key in current):
                raise JsonTooComplex("JSON text holds an unpaired surrogate (not valid Unicode).")
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > max_depth:
            raise JsonTooComplex(f"JSON nests deeper than {max_depth} levels.")
        stack.extend((child, depth + 1) for child in children)
