from __future__ import annotations

from dataclasses import replace

from teams import roles
from teams.models import Membership, PlatformRole, Team
from teams.principal import Principal


def principal_for_user(
    user,
    *,
    token_id: int | None = None,
    server_ids: frozenset[int] | None = None,
    permission_scope: frozenset[str] | None = None,
    team_scope: frozenset[int] | None = None,
    jti: str = "",
) -> Principal:
    """The Principal of ``user``, narrowed by a credential's scopes. Two queries."""
    rows = Membership.objects.filter(user_id=user.pk).values_list(
        "team_id", "role", "custom_role__permissions", "team__personal_for_id"
    )
    team_permissions: dict[int, frozenset[str]] = {}
    managed: set[int] = set()
    personal_team_id = None
    for team_id, role, custom, personal_for in rows:
        if custom is not None:
            granted = frozenset(name for name in custom if name in roles.PERMISSIONS)
        else:
            granted = roles.TEAM_ROLES[role]
        team_permissions[team_id] = granted - roles.PLATFORM_ONLY
        if role in (Membership.Role.OWNER, Membership.Role.ADMIN):
            managed.add(team_id)
        if personal_for == user.pk:
            personal_team_id = team_id
    platform_role = PlatformRole.objects.filter(user_id=user.pk).values_list("role", flat=True).first()
    is_admin = user.is_superuser or platform_role == PlatformRole.Name.ADMIN
    if is_admin:
        platform = roles.PLATFORM_ROLES[roles.PLATFORM_ADMIN]
    else:
        platform = roles.PLATFORM_ROLES[platform_role] if platform_role else frozenset()
    return Principal(
        user_id=user.pk,
        email=user.email,
        is_superuser=is_admin,
        team_ids=frozenset(team_permissions),
        managed_team_ids=frozenset(managed),
        token_id=token_id,
        server_ids=server_ids,
        platform_permissions=platform,
        team_permissions=team_permissions,
        personal_team_id=personal_team_id,
        permission_scope=permission_scope,
        team_scope=team_scope,
        jti=jti,
    )


def team_personal_get(*, user) -> Team | None:
    return Team.objects.filter(personal_for=user).first()


def membership_owner_count(*, team: Team) -> int:
    return Membership.objects.filter(team=team, role=Membership.Role.OWNER).count()


def principal_for_credential(
    user,
    *,
    team_claim: list[int] | None,
    token_id: int | None = None,
    server_ids: frozenset[int] | None = None,
    permission_scope: frozenset[str] | None = None,
    jti: str = "",
) -> Principal:
    """The Principal of a token or JWT. The team-claim rules: no claim is public-only, except that a platform
    admin's token without one is unrestricted; ``[]`` is public-only; ``[ids]`` is those teams and public."""
    principal = principal_for_user(
        user, token_id=token_id, server_ids=server_ids, permission_scope=permission_scope, jti=jti
    )
    if team_claim is None:
        team_scope = None if principal.is_superuser else frozenset()
    else:
        team_scope = frozenset(int(team_id) for team_id in team_claim)
    return replace(principal, team_scope=team_scope)
