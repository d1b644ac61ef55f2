from __future__ import annotations

from teams.models import Membership
from teams.principal import Principal


def principal_for_user(user, *, token_id: int | None = None, server_ids: frozenset[int] | None = None) -> Principal:
    memberships = list(Membership.objects.filter(user_id=user.pk).values_list("team_id", "role"))
    managing = {Membership.Role.OWNER, Membership.Role.ADMIN}
    return Principal(
        user_id=user.pk,
        email=user.email,
        is_superuser=user.is_superuser,
        team_ids=frozenset(team_id for team_id, _ in memberships),
        managed_team_ids=frozenset(team_id for team_id, role in memberships if role in managing),
        token_id=token_id,
        server_ids=server_ids,
    )
