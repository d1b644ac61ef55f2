"""Shared by the upstream commands: which upstreams a command applies to."""
from __future__ import annotations

from django.core.management.base import CommandError
from django.db.models import Q

from catalog.models import Upstream


def selected_upstreams(names: list[str] | None) -> list[Upstream]:
    if not names:
        return list(Upstream.objects.filter(enabled=True).order_by("slug"))
    found = list(Upstream.objects.filter(Q(slug__in=names) | Q(name__in=names)).order_by("slug"))
    missing = set(names) - {u.slug for u in found} - {u.name for u in found}
    if missing:
        raise CommandError(f"No upstream named {', '.join(sorted(missing))}.")
    return found
