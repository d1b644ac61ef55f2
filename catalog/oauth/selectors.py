"""Reads of the upstream OAuth vault. A user sees only their own connections."""
from __future__ import annotations

from django.db.models import QuerySet

from catalog.credentials import connection_tokens_open
from catalog.models import Upstream, UpstreamConnection
from teams import permissions
from teams.selectors import principal_for_user


def upstream_connections_of(*, user=None, user_id: int | None = None) -> QuerySet[UpstreamConnection]:
    """The user's own connections, never anyone else's."""
    user_id = user.pk if user is not None else user_id
    if user_id is None:
        return UpstreamConnection.objects.none()
    return UpstreamConnection.objects.filter(user_id=user_id).select_related("upstream", "user")


def upstream_connection_get_own(*, user, pk) -> UpstreamConnection | None:
    return upstream_connections_of(user=user).filter(pk=pk).first()


def upstream_connectable_get(*, user, slug: str) -> Upstream | None:
    """A per-user OAuth upstream the user may use, by slug; forbidden and missing are both None."""
    return (
        Upstream.objects.visible_to(principal_for_user(user), permissions.USE)
        .filter(slug=slug, auth_type=Upstream.AuthType.OAUTH_USER, enabled=True)
        .first()
    )


def upstream_connectable_list(*, user) -> QuerySet[Upstream]:
    return Upstream.objects.visible_to(principal_for_user(user), permissions.USE).filter(
        auth_type=Upstream.AuthType.OAUTH_USER, enabled=True
    )


def connection_access_token(*, connection_id: int) -> tuple[str, float] | None:
    """The data plane's read: (access token, expiry as a Unix time; inf when unknown), or None once disconnected."""
    connection = UpstreamConnection.objects.filter(pk=connection_id).only("tokens_sealed", "expires_at").first()
    if connection is None:
        return None
    access_token, _refresh = connection_tokens_open(connection.tokens_sealed)
    return access_token, connection.expires_at.timestamp() if connection.expires_at else float("inf")
