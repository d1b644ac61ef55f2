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

def window_hit(key: str, limit: int, period: int) -> int | None:
    """Count one hit in the current fixed window of ``period`` seconds; seconds until it ends when over ``limit``."""
    now = time.time()
    window = int(now // period)
    cache_key = f"gatehouse:rl:{key}:{period}:{window}"
    cache = process_cache()
    if cache.add(cache_key, 1, period + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr: this hit opens the next window
            cache.add(cache_key, 1, period + 1)
            count = 1
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))


class Concurrency:
    """An in-flight counter per key. ``enter`` refuses over ``limit``; ``leave`` gives the slot back. The TTL bounds
    how long a counter left behind by a crashed process can hold slots."""

    def __init__(self, key: str, limit: int, ttl: int) -> None:
        self.cache_key = f"gatehouse:inflight:{key}"
        self.limit = limit
        self.ttl = ttl

    def enter(self) -> bool:
        cache = process_cache()
        if cache.add(self.cache_key, 1, self.ttl):
            return True
        try:
            count = cache.incr(self.cache_key)
        except ValueError:
            return cache.add(self.cache_key, 1, self.ttl) or self.enter()
        if count > self.limit:
            self.leave()
            return False
        return True

    def leave(self) -> None:
        try:
            process_cache().decr(self.cache_key)
        except ValueError:  # expired meanwhile: nothing to give back
            pass
