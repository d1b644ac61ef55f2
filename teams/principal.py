"""Who is asking: the identity every authorisation decision is made for.

Built once per credential and cached by the data plane, so it holds plain frozen sets and a dict: no queries, no
lazy attributes. ``teams.permissions`` reads it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, eq=False)
class Principal:
    user_id: int
    email: str
    is_superuser: bool
    team_ids: frozenset[int]
    managed_team_ids: frozenset[int]
    token_id: int | None = None
    # None: the credential may reach every server the user may; otherwise only these VirtualServer ids.
    server_ids: frozenset[int] | None = None
    # Platform-wide permissions (platform admin or viewer); they apply to every object.
    platform_permissions: frozenset[str] = frozenset()
    # Team id -> the permissions the user's role grants in that team.
    team_permissions: dict[int, frozenset[str]] = field(default_factory=dict)
    personal_team_id: int | None = None
    # A token's permission scope: None means the token adds no limit; otherwise nothing outside this set.
    permission_scope: frozenset[str] | None = None
    # A token's team claim: None means no team restriction (sessions, admin tokens without a team scope);
    # otherwise only public objects and those of these teams.
    team_scope: frozenset[int] | None = None
    # JWTs have no token row: they are told apart by their jti (for sessions and usage records).
    jti: str = ""
    # A client that sent no token, on a virtual server that allows anonymous callers: it acts with the server
    # owner's view, narrowed to that one server (server_ids).
    anonymous: bool = False

    @property
    def cache_key(self) -> str:
        if self.anonymous:
            return f"anonymous:{self.user_id}"
        return f"{self.user_id}:{self.token_id or 0}:{self.jti}"

    @property
    def is_platform_admin(self) -> bool:
        return self.is_superuser

    def may_reach_server(self, server_id: int) -> bool:
        return self.server_ids is None or server_id in self.server_ids
