"""The one place that answers "may principal P do action A on object O".

Objects carry ``owner``, ``team`` and ``visibility``. Viewing and using follow visibility; changing needs
ownership or a managing role in the object's team. Platform admins may do everything. Unknown actions raise.
"""
from __future__ import annotations

from django.db.models import Q

from teams.principal import Principal

VIEW = "view"
USE = "use"
CHANGE = "change"
ACTIONS = frozenset({VIEW, USE, CHANGE})

PRIVATE = "private"
TEAM = "team"
PUBLIC = "public"


def _check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; expected one of {sorted(ACTIONS)}.")


def scope_filter(principal: Principal, action: str) -> Q | None:
    """A filter selecting the objects the principal may act on; None means no restriction."""
    _check_action(action)
    if principal.is_superuser:
        return None
    owned = Q(owner_id=principal.user_id)
    if action == CHANGE:
        return owned | Q(team_id__in=principal.managed_team_ids)
    return owned | Q(visibility=TEAM, team_id__in=principal.team_ids) | Q(visibility=PUBLIC)

