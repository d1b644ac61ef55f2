"""Rate limits that hold across processes (the Django cache: Redis when configured) and recover on their own.

- Login: django-ratelimit per client IP and per submitted user name; ``login_rate_limited`` wraps any login view
  (the admin's here; allauth's views can use it too) and answers 429 with ``Retry-After``.
- Data plane: ``window_hit`` (fixed windows) and ``Concurrency`` (in-flight calls) over the process-wide cache handle,
  used by ``proxy.protocol.admission``. Windows expire with their period and in-flight counters with a TTL, so no
  limit can lock anyone out for longer than that.
"""
from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from config.cache import process_cache

_RATE = re.compile(r"^(\d+)/([smhd])$")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(name: str, text: str) -> tuple[int, int] | None:
    """``"600/m"`` → (600, 60); empty → None (no limit). The format DRF and django-ratelimit read too."""
    if not text:
        return None
    match = _RATE.match(text.strip())
    if match is None or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"{name} must look like '600/m' (count/s|m|h|d), not {text!r}.")
    count, unit = match.groups()
    return int(count), _PERIOD_SECONDS[unit]


# --- login ---------------------------------------------------------------------------------------------------------

def _username_key(group: str, request: HttpRequest) -> str:
    # Case and spacing must not buy an attacker a fresh budget for the same account.
    return (request.POST.get("username") or request.POST.get("login") or "").strip().lower()


def too_many_requests(retry_after: int, message: str = "Too many attempts. Try again later.") -> HttpResponse:
    response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(max(1, retry_after))
    return response


def login_retry_after(request: HttpRequest) -> int | None:
    """Count one login attempt (POST) against the per-IP and per-account limits; seconds to wait when over either."""
    waits = []
    for group, key, rate in (
        ("gatehouse.login.ip", "ip", settings.GATEHOUSE_LOGIN_RATE_LIMIT_IP),
        ("gatehouse.login.account", _username_key, settings.GATEHOUSE_LOGIN_RATE_LIMIT_ACCOUNT),
    ):
        if not rate:
            continue
        usage = get_usage(request, group=group, key=key, rate=rate, method="POST", increment=True)
        if usage is not None and usage["should_limit"]:
            waits.append(usage["time_left"])
    return max(waits) if waits else None


def login_rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a login view: over the limit, a POST gets 429 with Retry-After instead of a password check."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        retry_after = login_retry_after(request) if request.method == "POST" else None
        if retry_after is not None:
            return too_many_requests(retry_after, "Too many sign-in attempts. Try again later.")
        return view(request, *args, **kwargs)

    return wrapped


# --- data plane ----------------------------------------------------------------------------------------------------

@functools.cache
def _redis():
    """A process-wide Redis client when REDIS_URL is set: one pipelined round trip counts every limit of a request
    (through the Django cache API each counter costs two or three)."""
    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, socket_timeout=5)


def count_hits(counters: list[tuple[str, int]]) -> list[int]:
    """Add one to each ``(key, ttl)`` counter and return the new values; a counter starts its TTL on first use."""
    client = _redis()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for key, ttl in counters:
            pipe.incr(key)
            pipe.expire(key, ttl, nx=True)
        return [int(value) for value in pipe.execute()[::2]]
    cache = process_cache()
    counts = []
    for key, ttl in counters:
        try:
            counts.append(cache.incr(key))
        except ValueError:
            counts.append(1 if cache.add(key, 1, ttl) else cache.incr(key))
    return counts


def count_release(key: str) -> None:
    """Give back one unit of an in-flight counter (never below zero)."""
    client = _redis()
    if client is not None:
        if client.decr(key) < 0:
            client.incr(key)
        return
    try:
        process_cache().decr(key)
    except ValueError:  # expired meanwhile: nothing to give back
        pass


def window_key(key: str, period: int, now: float) -> tuple[str, int, float]:
    """The counter of the fixed window holding ``now``: its key, TTL and end time."""
    window = int(now // period)
    return f"gatehouse:rl:{key}:{period}:{window}", period + 1, (window + 1) * period


def retry_after(window_end: float, now: float) -> int:
    return max(1, math.ceil(window_end - now))


def window_hit(key: str, limit: int, period: int) -> int | None:
    """Count one hit in the current fixed window of ``period`` seconds; seconds until it ends when over ``limit``."""
    now = time.time()
    cache_key, ttl, end = window_key(key, period, now)
    (count,) = count_hits([(cache_key, ttl)])
    return None if count <= limit else retry_after(end, now)


def inflight_key(key: str) -> str:
    return f"gatehouse:inflight:{key}"
