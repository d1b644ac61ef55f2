"""How upstream names become catalog names."""
from __future__ import annotations

import hashlib
import re

from django.conf import settings

MAX_EXPOSED_NAME = 64
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def exposed_name(upstream_slug: str, name: str) -> str:
    """``<upstream-slug><separator><name>`` (separator ``__`` unless GATEHOUSE_NAME_SEPARATOR says otherwise), at
    most 64 characters; longer names keep a stable 8-character hash suffix."""
    full = f"{upstream_slug}{settings.GATEHOUSE_NAME_SEPARATOR}{name}"
    if len(full) <= MAX_EXPOSED_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_EXPOSED_NAME - 9]}_{digest}"


def is_valid_tool_name(name: str) -> bool:
    return bool(_TOOL_NAME.match(name))
