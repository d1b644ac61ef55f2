"""Argon2id with its cost parameters taken from settings (ARGON2_TIME_COST, ARGON2_MEMORY_COST,
ARGON2_PARALLELISM), so operators can tune hashing to their hardware without a code change."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class GatehouseArgon2PasswordHasher(Argon2PasswordHasher):
    # Same algorithm name as Django's hasher: hashes made before the parameters were configurable still verify, and
    # must_update() upgrades them at the next login once the configured costs differ.
    algorithm = "argon2"

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return settings.ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return settings.ARGON2_MEMORY_COST

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return settings.ARGON2_PARALLELISM
