"""The one place that answers "may principal P do action A on object O".

``principal_may`` answers it for one object (or for no object: "may P create upstreams at all?"), and
``scope_filter`` answers it for a whole table as a ``Q`` filter; both apply the same rules, in this order:

1. a token's permission scope caps everything (a permission outside it is refused);
2. platform permissions (admin, viewer) apply to every object;
3. an owner may do anything with what they own; a team role applies to the team's objects (to view or use them
   they must be team- or public-visible, to change them it is enough that they belong to the team); anyone may
   read and use public objects;
4. a token's team claim keeps only public objects and those of the claimed teams (an owner's objects outside any
   team count as their personal team's).

Objects carry ``owner``, ``team`` and ``visibility``. Callers ask with an action (``view``, ``use``, ``change``,
``create``), which the object's model turns into a permission (``OBJECT_PERMISSIONS``), or with a permission name
directly. Unknown actions, models and permissions raise in ``scope_filter``; ``principal_may`` denies on any error.
"""
from __future__ import annotations

import logging

from django.db.models import Q

from teams import roles
from teams.principal import Principal

logger = logging.getLogger(__name__)

VIEW = "view"
USE = "use"
CHANGE = "change"
CREATE = "create"
ACTIONS = frozenset({VIEW, USE, CHANGE, CREATE})

PRIVATE = "private"
TEAM = "team"
PUBLIC = "public"

_DISCOVERED = {CHANGE: roles.UPSTREAMS_MANAGE, CREATE: roles.UPSTREAMS_MANAGE}
# (model label) -> action -> permission. A model missing here cannot be scoped: it raises.
OBJECT_PERMISSIONS: dict[str, dict[str, str]] = {
    "catalog.upstream": {
        VIEW: roles.UPSTREAMS_READ, USE: roles.UPSTREAMS_READ,
        CHANGE: roles.UPSTREAMS_MANAGE, CREATE: roles.UPSTREAMS_CREATE,
    },
    "catalog.tool": {VIEW: roles.TOOLS_READ, USE: roles.TOOLS_EXECUTE, **_DISCOVERED},
    "catalog.resource": {VIEW: roles.RESOURCES_READ, USE: roles.RESOURCES_READ, **_DISCOVERED},
    "catalog.resourcetemplate": {VIEW: roles.RESOURCES_READ, USE: roles.RESOURCES_READ, **_DISCOVERED},
    "catalog.prompt": {VIEW: roles.PROMPTS_READ, USE: roles.PROMPTS_READ, **_DISCOVERED},
    "catalog.virtualserver": {
        VIEW: roles.SERVERS_READ, USE: roles.SERVERS_USE, CHANGE: roles.SERVERS_MANAGE, CREATE: roles.SERVERS_MANAGE,
    },
    # Not owned objects (no owner/team/visibility): only their create permission is read from here; their querysets
    # scope themselves (Team, Membership, Invitation, Role, ApiToken ``visible_to``).
    "teams.team": {CREATE: roles.TEAMS_CREATE},
    "teams.membership": {CREATE: roles.TEAMS_MANAGE},
    "teams.invitation": {CREATE: roles.TEAMS_MANAGE},
    "teams.role": {CREATE: roles.ADMIN_ROLE_MANAGEMENT},
    "tokens.apitoken": {CREATE: roles.TOKENS_CREATE},
    "accounts.user": {
        VIEW: roles.ADMIN_USER_MANAGEMENT, CHANGE: roles.ADMIN_USER_MANAGEMENT, CREATE: roles.ADMIN_USER_MANAGEMENT,
    },
}

# Permissions that change things: granted by a team role on any of the team's objects, whatever their visibility.
_MANAGING = frozenset({roles.UPSTREAMS_MANAGE, roles.SERVERS_MANAGE, roles.TOKENS_MANAGE, roles.TEAMS_MANAGE})


def permission_for(model_label: str, action: str) -> str:
    """The permission an action on a model needs; a permission name passes through (checked)."""
    if action in ACTIONS:
        try:
            return OBJECT_PERMISSIONS[model_label][action]
        except KeyError:
            raise ValueError(f"No permission is defined for {action!r} on {model_label}.") from None
    return roles.permission_check(action)


def _capped(principal: Principal, permission: str) -> bool:
    return principal.permission_scope is not None and permission not in principal.permission_scope


def _teams_granting(principal: Principal, permission: str) -> list[int]:
    return [team_id for team_id, granted in principal.team_permissions.items() if permission in granted]


def holds(principal: Principal, permission: str) -> bool:
    """Whether the principal holds ``permission`` anywhere (no object): platform role, as a user, or in a team."""
    roles.permission_check(permission)
    if _capped(principal, permission):
        return False
    if permission in principal.platform_permissions:
        return True
    if permission in roles.USER_PERMISSIONS:
        return True
    return bool(_teams_granting(principal, permission))


def holds_in_team(principal: Principal, permission: str, team_id: int) -> bool:
    roles.permission_check(permission)
    if _capped(principal, permission):
        return False
    if principal.team_scope is not None and team_id not in principal.team_scope:
        return False
    return permission in principal.platform_permissions or permission in principal.team_permissions.get(team_id, ())


def may_assign_team(principal: Principal, team_id: int, *, model_label: str) -> bool:
    """May the principal put an object of ``model_label`` into this team: they hold the model's create permission
    in that team (platform admins: anywhere), within their credential's team claim."""
    try:
        return holds_in_team(principal, permission_for(model_label, CREATE), team_id)
    except ValueError:
        return False


def _in_team_scope(principal: Principal, permission: str, *, owner_id, team_id, visibility) -> bool:
    scope = principal.team_scope
    if scope is None:
        return True
    if visibility == PUBLIC and permission in roles.PUBLIC_PERMISSIONS:
        return True
    if team_id is not None:
        return team_id in scope
    return owner_id == principal.user_id and principal.personal_team_id in scope


def _grants(principal: Principal, permission: str, *, owner_id, team_id, visibility) -> bool:
    if _capped(principal, permission):
        return False
    if not _in_team_scope(principal, permission, owner_id=owner_id, team_id=team_id, visibility=visibility):
        return False
    if permission in principal.platform_permissions:
        return True
    if owner_id == principal.user_id and permission in roles.OWNER_PERMISSIONS:
        return True
    if team_id is not None and permission in principal.team_permissions.get(team_id, ()):
        if permission in _MANAGING or visibility in (TEAM, PUBLIC):
            return True
    return visibility == PUBLIC and permission in roles.PUBLIC_PERMISSIONS


def principal_may(principal: Principal | None, action: str, obj=None) -> bool:
    """May ``principal`` do ``action`` (an action or a permission name) on ``obj`` (or at all, if None)?

    Denies on any error: an unknown action, a model without permissions, an object without ownership fields.
    """
    if principal is None:
        return False
    try:
        if obj is None:
            return holds(principal, roles.permission_check(action))
        permission = permission_for(obj._meta.label_lower, action)
        return _grants(
            principal, permission, owner_id=obj.owner_id, team_id=obj.team_id, visibility=obj.visibility
        )
    except Exception:  # noqa: BLE001 - deny on error, but say why in the log
        logger.exception("Authorisation check failed; denying %s on %r.", action, obj)
        return False


_NOTHING = Q(pk__in=[])


def scope_filter(principal: Principal, action: str, *, model_label: str) -> Q | None:
    """A filter selecting the objects of ``model_label`` the principal may act on; None means no restriction.

    The same rules as ``_grants``, written as SQL. Raises on an unknown action or model.
    """
    permission = permission_for(model_label, action)
    if _capped(principal, permission):
        return _NOTHING
    if permission in principal.platform_permissions:
        allowed = None
    else:
        allowed = Q(owner_id=principal.user_id) if permission in roles.OWNER_PERMISSIONS else _NOTHING
        teams = _teams_granting(principal, permission)
        if teams:
            in_teams = Q(team_id__in=teams)
            if permission not in _MANAGING:
                in_teams &= Q(visibility__in=[TEAM, PUBLIC])
            allowed |= in_teams
        if permission in roles.PUBLIC_PERMISSIONS:
            allowed |= Q(visibility=PUBLIC)
    scope = principal.team_scope
    if scope is None:
        return allowed
    claimed = Q(team_id__in=scope)
    if principal.personal_team_id in scope:
        claimed |= Q(team__isnull=True, owner_id=principal.user_id)
    if permission in roles.PUBLIC_PERMISSIONS:
        claimed |= Q(visibility=PUBLIC)
    return claimed if allowed is None else allowed & claimed
