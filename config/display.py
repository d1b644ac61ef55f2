"""Display text: the names and descriptions people type into Gatehouse (upstreams, virtual servers, teams, roles,
tokens, REST tools), later shown in the admin, the API, MCP listings and clients' own interfaces.

Text that carries markup or a script URL is refused where it is entered, so no client that forgets to escape can be
turned against its users; everything Gatehouse itself shows is escaped as well (Django templates autoescape, JSON
encodes). Text that upstreams describe themselves with (discovered tool descriptions) is not refused, only escaped.
"""
from __future__ import annotations

import re

# A tag or comment (``<b``, ``</``, ``<!--``, ``<?``), or a URL scheme that runs code.
_MARKUP = re.compile(r"<[a-z!/?]|\b(?:javascript|vbscript|livescript)\s*:|\bdata\s*:\s*text/html", re.IGNORECASE)
# Control characters other than tab and newline (CR included: display text is never a header, but it may be logged).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


class DisplayTextError(ValueError):
    pass


def display_text_clean(value: object, *, label: str, max_length: int, required: bool = False,
                       multiline: bool = False) -> str:
    """``value`` stripped, or DisplayTextError naming what is wrong with it."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DisplayTextError(f"{label} must be text.")
    value = value.strip()
    if required and not value:
        raise DisplayTextError(f"{label} is required.")
    if len(value) > max_length:
        raise DisplayTextError(f"{label} is at most {max_length} characters.")
    if _CONTROL.search(value) or (not multiline and ("\n" in value or "\t" in value)):
        raise DisplayTextError(f"{label} contains control characters.")
    if _MARKUP.search(value):
        raise DisplayTextError(f"{label} may not contain HTML markup or script URLs.")
    return value


def validate_display_line(value: object) -> None:
    """Model field validator (admin forms and API serializers run it): one line of display text."""
    _validate(value, multiline=False)


def validate_display_paragraph(value: object) -> None:
    """Model field validator: display text that may span lines (descriptions)."""
    _validate(value, multiline=True)


def _validate(value: object, *, multiline: bool) -> None:
    from django.core.exceptions import ValidationError

    try:
        display_text_clean(value, label="This text", max_length=10**6, multiline=multiline)
    except DisplayTextError as exc:
        raise ValidationError(str(exc), code="display_text") from None
