"""Per-request token scopes: client IP ranges, UTC time-of-day windows and a call quota.

Checked on every request (never cached as a yes/no), by ``tokens.authentication`` for the REST API and by
``proxy.protocol.access`` for MCP. The quota is counted in the Django cache, so with Redis configured every process
counts against the same number.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, time

from config.cache import process_cache

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScopeError(ValueError):
    """A malformed scope given at token creation; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Window:
    start: time
    end: time  # exclusive; end < start spans midnight
    days: frozenset[int] | None  # 0 = Monday; None = every day

    def contains(self, moment: datetime) -> bool:
        now = moment.time()
        if self.start <= self.end:
            inside, day = self.start <= now < self.end, moment.weekday()
        else:
            inside = now >= self.start or now < self.end
            # After midnight the window belongs to the day it started.
            day = moment.weekday() if now >= self.start else (moment.weekday() - 1) % 7
        return inside and (self.days is None or day in self.days)


@dataclass(frozen=True, slots=True)
class TokenScope:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    windows: tuple[Window, ...] = ()
    quota_calls: int | None = None
    quota_period_seconds: int = 86400
    # The token's random lookup part, not its id: ids can be reused (SQLite), and counters outlive rows.
    quota_key: str = ""

    @property
    def empty(self) -> bool:
        return not self.networks and not self.windows and self.quota_calls is None


UNSCOPED = TokenScope()


def networks_parse(values) -> tuple:
    if not isinstance(values, list | tuple):
        raise ScopeError("ip_ranges must be a list of CIDRs.")
    try:
        return tuple(ipaddress.ip_network(str(value), strict=False) for value in values)
    except ValueError as exc:
        raise ScopeError(f"Not an IP range: {exc}") from None


def _clock(value) -> time:
    match = _HHMM.match(str(value))
    if not match:
        raise ScopeError(f"Times are HH:MM (UTC), not {value!r}.")
    return time(int(match[1]), int(match[2]))


def windows_parse(values) -> tuple[Window, ...]:
    if not isinstance(values, list | tuple):
        raise ScopeError("time_windows must be a list of {start, end, days}.")
    windows = []
    for value in values:
        if not isinstance(value, dict) or set(value) - {"start", "end", "days"}:
            raise ScopeError("A time window is {\"start\": \"HH:MM\", \"end\": \"HH:MM\", \"days\": [0-6]}.")
        days = value.get("days")
        if days is not None and (
            not isinstance(days, list) or not all(isinstance(day, int) and 0 <= day <= 6 for day in days)
        ):
            raise ScopeError("Window days are a list of 0 (Monday) to 6 (Sunday).")
        start, end = _clock(value.get("start")), _clock(value.get("end"))
        if start == end:
            raise ScopeError("A time window needs different start and end times.")
        windows.append(Window(start, end, frozenset(days) if days is not None else None))
    return tuple(windows)


def scope_from_token(token) -> TokenScope:
    """The scope of an ApiToken row (its fields were validated at creation)."""
    if not token.ip_ranges and not token.time_windows and token.quota_calls is None:
        return UNSCOPED
    return TokenScope(
        networks=networks_parse(token.ip_ranges or []),
        windows=windows_parse(token.time_windows or []),
        quota_calls=token.quota_calls,
        quota_period_seconds=token.quota_period_seconds,
        quota_key=token.lookup,
    )


def _quota_key(key: str, period: int, now: datetime) -> str:
    return f"gatehouse:quota:{key}:{period}:{int(now.timestamp()) // period}"


def scope_refusal(scope: TokenScope, *, ip: str | None, now: datetime) -> str | None:
    """Why this request may not use the token (a reason safe to show), or None. Counts the call toward the quota."""
    if scope.networks:
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return "This token may not be used from this address."
        if not any(address in network for network in scope.networks):
            return "This token may not be used from this address."
    if scope.windows and not any(window.contains(now) for window in scope.windows):
        return "This token may not be used at this time."
    if scope.quota_calls is not None:
        cache = process_cache()
        key = _quota_key(scope.quota_key, scope.quota_period_seconds, now)
        cache.add(key, 0, scope.quota_period_seconds + 60)
        try:
            used = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, scope.quota_period_seconds + 60)
            used = 1
        if used > scope.quota_calls:
            return "This token's usage quota is exhausted."
    return None
