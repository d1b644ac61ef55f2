"""Who is calling: the bearer token checked against the current catalog version. Shared by every transport."""
from __future__ import annotations

from catalog.version import catalog_version_current
from teams.principal import Principal
from tokens.authentication import principal_for_bearer


async def authenticate(authorization: str | None) -> tuple[Principal | None, int]:
    """The principal for an ``Authorization`` header value (None if missing or invalid) and the catalog version."""
    version = await catalog_version_current()
    return await principal_for_bearer(authorization, version=version), version
