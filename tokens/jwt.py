"""JWTs: minted with simplejwt's TokenBackend, verified with PyJWT under exactly one configured algorithm.

Verification pins the algorithm (so ``alg: none`` and an HS token signed with the RS public key are refused), checks
audience and issuer, requires ``exp`` and ``jti`` unless switched off, checks the optional ``env`` claim, and refuses
revoked jtis. Claims Gatehouse reads: ``sub`` (user id), ``teams``, ``permissions``, ``servers`` (slugs).
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import jwt
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.backends import TokenBackend

HMAC = ("HS256", "HS384", "HS512")
ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
ALGORITHMS = HMAC + ASYMMETRIC


class JwtError(ValueError):
    """A refused JWT; the message is safe to show."""


def looks_like_jwt(raw: str) -> bool:
    return raw.count(".") == 2 and raw.startswith("ey")


def _read(path: str, what: str) -> str:
    if not path:
        raise JwtError(f"{what} is not set.")
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise JwtError(f"{what} ({path}) cannot be read: {exc.strerror}.") from None


def hmac_secret() -> str:
    # Without an explicit secret, derive one from SECRET_KEY so the two never coincide.
    return settings.JWT_SECRET_KEY or hashlib.sha256(f"gatehouse-jwt:{settings.SECRET_KEY}".encode()).hexdigest()


def signing_key() -> str:
    if settings.JWT_ALGORITHM in HMAC:
        return hmac_secret()
    return _read(settings.JWT_PRIVATE_KEY_PATH, "JWT_PRIVATE_KEY_PATH")


def verifying_key() -> str:
    if settings.JWT_ALGORITHM in HMAC:
        return hmac_secret()
    return _read(settings.JWT_PUBLIC_KEY_PATH, "JWT_PUBLIC_KEY_PATH")


def configuration_errors() -> list[str]:
    """What is wrong with the JWT settings (for the start-up check): unknown algorithm, unreadable or wrong keys."""
    algorithm = settings.JWT_ALGORITHM
    if algorithm not in ALGORITHMS:
        return [f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}."]
    if algorithm in HMAC:
        # RFC 7518 3.2: an HMAC key at least as long as the hash.
        minimum = int(algorithm[2:]) // 8
        if settings.JWT_SECRET_KEY and len(settings.JWT_SECRET_KEY.encode()) < minimum:
            return [f"JWT_SECRET_KEY must be at least {minimum} bytes for {algorithm}."]
        return []
    errors = []
    try:
        jwt.PyJWS().get_algorithm_by_name(algorithm).prepare_key(verifying_key())
    except JwtError as exc:
        errors.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a configuration error
        errors.append(f"JWT_PUBLIC_KEY_PATH does not hold a {algorithm} public key: {exc}.")
    if settings.JWT_PRIVATE_KEY_PATH:
        try:
            jwt.PyJWS().get_algorithm_by_name(algorithm).prepare_key(signing_key())
        except JwtError as exc:
            errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"JWT_PRIVATE_KEY_PATH does not hold a {algorithm} private key: {exc}.")
    return errors


def jwt_mint(*, user, lifetime: timedelta | None = None, servers: list[str] | None = None,
             teams: list[int] | None = None, permissions: list[str] | None = None) -> tuple[str, dict]:
    """A signed JWT for ``user`` and its claims. Lifetime is capped by TOKEN_MAX_LIFETIME_DAYS."""
    lifetime = lifetime or timedelta(minutes=settings.JWT_LIFETIME_MINUTES)
    lifetime = min(lifetime, timedelta(days=settings.TOKEN_MAX_LIFETIME_DAYS))
    now = timezone.now()
    claims: dict = {
        "sub": str(user.pk),
        "email": user.email,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if settings.JWT_ENVIRONMENT:
        claims["env"] = settings.JWT_ENVIRONMENT
    if servers is not None:
        claims["servers"] = list(servers)
    if teams is not None:
        claims["teams"] = list(teams)
    if permissions is not None:
        claims["permissions"] = list(permissions)
    backend = TokenBackend(
        settings.JWT_ALGORITHM, signing_key=signing_key(), audience=settings.JWT_AUDIENCE, issuer=settings.JWT_ISSUER
    )
    return backend.encode(claims), claims


def jwt_decode(
    raw: str, key, *, algorithms: list[str], audience, issuer: str, required: list[str], algorithm_refusal: str,
    leeway: float = 0,
) -> dict:
    """Verified claims of ``raw``, for Gatehouse's own JWTs and an external issuer's alike; raises JwtError with a
    reason safe to show (``algorithm_refusal`` names what the signing algorithm should have been)."""
    try:
        return jwt.decode(
            raw, key, algorithms=algorithms, audience=audience, issuer=issuer, leeway=leeway,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError:
        raise JwtError("The JWT has expired.") from None
    except jwt.ImmatureSignatureError:
        raise JwtError("The JWT is not valid yet.") from None
    except jwt.InvalidAudienceError:
        raise JwtError("The JWT is for another audience.") from None
    except jwt.InvalidIssuerError:
        raise JwtError("The JWT is from another issuer.") from None
    except jwt.MissingRequiredClaimError as exc:
        raise JwtError(f"The JWT lacks the {exc.claim!r} claim.") from None
    except jwt.InvalidAlgorithmError:
        raise JwtError(f"The JWT is not signed with {algorithm_refusal}.") from None
    except jwt.InvalidTokenError:
        raise JwtError("The JWT is not valid.") from None


def jwt_verify(raw: str) -> dict:
    """The claims of a genuine, current JWT; raises JwtError (with a reason safe to show) otherwise."""
    required = ["sub", "aud", "iss"]
    if settings.REQUIRE_TOKEN_EXPIRATION:
        required.append("exp")
    if settings.REQUIRE_JTI:
        required.append("jti")
    claims = jwt_decode(
        raw, verifying_key(), algorithms=[settings.JWT_ALGORITHM], audience=settings.JWT_AUDIENCE,
        issuer=settings.JWT_ISSUER, required=required, algorithm_refusal="the configured algorithm",
    )
    if settings.JWT_ENVIRONMENT and claims.get("env") != settings.JWT_ENVIRONMENT:
        raise JwtError("The JWT is for another environment.")
    if "exp" in claims and "iat" in claims:
        if claims["exp"] - claims["iat"] > settings.TOKEN_MAX_LIFETIME_DAYS * 86400:
            raise JwtError("The JWT's lifetime exceeds TOKEN_MAX_LIFETIME_DAYS.")
    return claims
