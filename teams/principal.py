"""Who is asking: the identity every authorisation decision is made for."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    email: str
    is_superuser: bool
    team_ids: frozenset[int]
    managed_team_ids: frozenset[int]
    token_id: int | None = None
    # None: the credential may reach every server the user may; otherwise only these VirtualServer ids.
    server_ids: frozenset[int] | None = None
    # A client that sent no token, on a virtual server that allows anonymous callers: it acts with the server
    # owner's view, narrowed to that one server (server_ids).
    anonymous: bool = False

    @property
    def cache_key(self) -> str:
        if self.anonymous:
            return f"anonymous:{self.user_id}"
        return f"{self.user_id}:{self.token_id or 0}"

    def may_reach_server(self, server_id: int) -> bool:
        return self.server_ids is None or server_id in self.server_ids
