from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from catalog.models import VirtualServer
from catalog.version import catalog_version_bump
from config.display import DisplayTextError, display_text_clean
from teams import roles
from teams.models import Team
from teams.permissions import holds, holds_in_team
from teams.selectors import principal_for_user
from tokens.models import ApiToken, RevokedJti, TokenUsage
from tokens.scopes import ScopeError, networks_parse, windows_parse
from tokens.secrets import token_digest, token_generate


class TokenError(ValueError):
    pass


# token_create(teams=...) default: the creator's teams now (a platform admin's token: unrestricted).
MY_TEAMS = object()


def _checked_permissions(principal, permissions, team: Team | None) -> list[str] | None:
    """Containment: a token never carries a permission its creator does not hold when creating it."""
    if permissions is None:
        return None
    try:
        wanted = roles.permissions_check(permissions)
    except roles.UnknownPermission as exc:
        raise TokenError(str(exc)) from None
    if team is not None:
        missing = {p for p in wanted if not holds_in_team(principal, p, team.pk)}
    else:
        missing = {p for p in wanted if not holds(principal, p)}
    if missing:
        raise TokenError(f"You do not hold these permissions, so a token cannot: {', '.join(sorted(missing))}.")
    return sorted(wanted)


def _checked_teams(principal, teams) -> list[int] | None:
    if teams is MY_TEAMS:
        return None if principal.is_superuser else sorted(principal.team_ids)
    if teams is None:
        return None
    try:
        ids = sorted({int(team_id) for team_id in teams})
    except (TypeError, ValueError):
        raise TokenError("teams must be a list of team ids.") from None
    outside = set(ids) - principal.team_ids
    if outside and not principal.is_superuser:
        raise TokenError("A token can only be scoped to teams you belong to.")
    return ids


def token_scopes_validate(
    *, user, name: str, expires_days: int | None = None, team: Team | None = None, teams=MY_TEAMS,
    permissions: list[str] | None = None, ip_ranges: list[str] | None = None, time_windows: list[dict] | None = None,
    quota_calls: int | None = None, quota_period_seconds: int = 86400,
) -> dict:
    """Check what token_create would store (forms call it to show errors); raises TokenError. Returns the
    resolved team claim and permission list."""
    try:
        display_text_clean(name, label="A token's name", max_length=100, required=True)
    except DisplayTextError as exc:
        raise TokenError(str(exc)) from None
    max_days = settings.TOKEN_MAX_LIFETIME_DAYS
    if expires_days is not None and expires_days < 1:
        raise TokenError("Expiry must be at least one day.")
    if expires_days is not None and expires_days > max_days:
        raise TokenError(f"Tokens may live at most {max_days} days.")
    principal = principal_for_user(user)
    if not holds(principal, roles.TOKENS_CREATE):
        raise TokenError("You may not create tokens.")
    if team is not None:
        if not holds_in_team(principal, roles.TOKENS_MANAGE, team.pk):
            raise TokenError("Team tokens are created by those who manage the team's tokens.")
        teams = None
    team_ids = _checked_teams(principal, teams)
    granted = _checked_permissions(principal, permissions, team)
    try:
        networks_parse(ip_ranges or [])
        windows_parse(time_windows or [])
    except ScopeError as exc:
        raise TokenError(str(exc)) from None
    if quota_calls is not None and quota_calls < 1:
        raise TokenError("A quota allows at least one call.")
    if not 60 <= quota_period_seconds <= 31 * 86400:
        raise TokenError("The quota period is between 60 seconds and 31 days.")
    return {"teams": team_ids, "permissions": granted}


@transaction.atomic
def token_create(
    *,
    user,
    name: str,
    servers: list[VirtualServer] | None = None,
    expires_days: int | None = None,
    actor=None,
    team: Team | None = None,
    teams=MY_TEAMS,
    permissions: list[str] | None = None,
    ip_ranges: list[str] | None = None,
    time_windows: list[dict] | None = None,
    quota_calls: int | None = None,
    quota_period_seconds: int = 86400,
) -> tuple[ApiToken, str]:
    """Create a token; the returned string is the only time the secret exists outside the caller's hands.

    Every scope narrows: permissions must be held by ``user`` now (in ``team`` for a team token), teams must be
    the user's, the lifetime is capped by TOKEN_MAX_LIFETIME_DAYS.
    """
    scopes = token_scopes_validate(
        user=user, name=name, expires_days=expires_days, team=team, teams=teams, permissions=permissions,
        ip_ranges=ip_ranges, time_windows=time_windows, quota_calls=quota_calls,
        quota_period_seconds=quota_period_seconds,
    )
    team_ids, granted, max_days = scopes["teams"], scopes["permissions"], settings.TOKEN_MAX_LIFETIME_DAYS
    raw, lookup = token_generate()
    pepper_id, digest = token_digest(raw)
    token = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        lookup=lookup,
        digest=digest,
        pepper_id=pepper_id,
        restricted_to_servers=bool(servers),
        permissions=granted,
        teams=team_ids,
        ip_ranges=[str(network) for network in networks_parse(ip_ranges or [])],
        time_windows=list(time_windows or []),
        quota_calls=quota_calls,
        quota_period_seconds=quota_period_seconds,
        expires_at=timezone.now() + timedelta(days=expires_days or max_days),
    )
    if servers:
        token.servers.set(servers)
    audit_record(
        "token.create",
        actor=actor or user,
        target=token,
        data={
            "name": name, "servers": [server.slug for server in servers or []], "expires_days": expires_days,
            "team": team.slug if team else None, "teams": team_ids, "permissions": granted,
            "ip_ranges": token.ip_ranges, "time_windows": token.time_windows, "quota_calls": quota_calls,
        },
    )
    return token, raw


@transaction.atomic
def token_revoke(*, token: ApiToken, actor) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        # Cached principals are keyed by the catalog version: bumping it makes every process re-check the token.
        catalog_version_bump()
        audit_record("token.revoke", actor=actor, target=token)
    return token


@transaction.atomic
def jti_revoke(*, jti: str, actor=None, expires_at=None) -> RevokedJti:
    revoked, created = RevokedJti.objects.get_or_create(jti=jti[:64], defaults={
        "revoked_by": actor, "expires_at": expires_at,
    })
    if created:
        catalog_version_bump()
        audit_record("token.jti_revoke", actor=actor, target=revoked, data={"jti": revoked.jti})
    return revoked


def token_usage_record(*, method: str, outcome: str, token_id: int | None = None, jti: str = "",
                       user_id: int | None = None, endpoint: str = "", ip: str | None = None, user_agent: str = "",
                       latency_ms: int = 0, reason: str = "", status: int | None = None) -> TokenUsage:
    """One usage row (the REST API writes it after each response; the data plane goes through tokens.usage)."""
    return TokenUsage.objects.create(
        token_id=token_id, jti=jti[:64], user_id=user_id, method=method[:64], endpoint=endpoint[:255], ip=ip,
        user_agent=user_agent[:255], latency_ms=max(0, int(latency_ms)), outcome=outcome, reason=reason[:255],
        status=status,
    )


def token_usage_record_many(*, entries) -> int:
    """Many usage rows in one insert; entries are tokens.usage.UsageEntry. A token deleted since the entry was
    buffered keeps its record, without the link."""
    token_ids = {entry.token_id for entry in entries if entry.token_id is not None}
    existing = set(ApiToken.objects.filter(pk__in=token_ids).values_list("pk", flat=True)) if token_ids else set()
    rows = [
        TokenUsage(
            token_id=entry.token_id if entry.token_id in existing else None, jti=entry.jti[:64], user_id=entry.user_id, method=entry.method[:64],
            endpoint=entry.endpoint[:255], ip=entry.ip, user_agent=entry.user_agent[:255],
            latency_ms=max(0, int(entry.latency_ms)), outcome=entry.outcome, reason=entry.reason[:255],
            status=entry.status, created_at=entry.created_at,
        )
        for entry in entries
    ]
    TokenUsage.objects.bulk_create(rows)
    return len(rows)
