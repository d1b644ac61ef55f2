"""RFC 6238 TOTP computed independently of allauth, so the tests check allauth's codes against the standard."""
from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret


def totp_code(secret: str, *, at: float | None = None, period: int = 30, digits: int = 6) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // period)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % (10 ** digits)
    return str(value).zfill(digits)


def current_code(secret: str, *, period: int = 30, margin: float = 5.0) -> str:
    """The code for now, for a test that submits it at once. Gatehouse accepts only the current window (no clock
    tolerance), so a code read in a window's last seconds could reach the server in the next one: wait that out."""
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.05)
    return totp_code(secret, period=period)


def totp_enrol(user) -> str:
    """Give the user a TOTP authenticator and recovery codes, as enrolment does; returns the shared secret."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def wrong_code(secret: str) -> str:
    """A code valid in no window near now."""
    now = time.time()
    near = {totp_code(secret, at=now + shift) for shift in range(-90, 91, 30)}
    return next(code for code in (f"{n:06d}" for n in range(0, 1_000_000, 7919)) if code not in near)
