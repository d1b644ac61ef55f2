"""A pytest plugin that fails any test whose responses or log records contain a stored secret.

Secrets register themselves where they come into being, for the whole session:
- from settings: SECRET_KEY, the JWT signing key, every key of GATEHOUSE_ENCRYPTION_KEYS and GATEHOUSE_TOKEN_PEPPERS
  (in the encodings they are configured in), METRICS_TOKEN;
- created by tests: every API token plaintext (tokens.secrets.token_generate), every JWT (tokens.jwt.jwt_mint),
  every password hashed (the configured password hashers: set_password, factories, forms), and every
  value sealed into a database column (config.crypto.seal: upstream bearer/basic/header credentials and env).

Everything a test gets back is gathered: Django's request handler (the Django test client, DRF's APIClient and the
real WSGI/ASGI handlers), every message a Channels/asgiref communicator receives (HttpCommunicator,
WebsocketCommunicator, ApplicationCommunicator), and every log record. The check runs when the test ends; the report
names the secret's kind and where it appeared, never the secret.

Shown once by design, and exempt (only the value in its designated place, never the whole response):
- the ``token`` field of ``POST /api/v1/tokens/`` (201): the API token plaintext;
- the admin's "Token created. Copy it now, it is shown only once: <token>" message.
A test whose upstream reflects what it received (the REST echo fixture) shows the injected credential on purpose; it
says so with ``@pytest.mark.secret_shown(reason, where=...)``, which forgives findings only in places naming
``where``.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import pytest

MIN_LENGTH = 10  # shorter values (env flags, ports) would match by chance


@dataclass(frozen=True, slots=True)
class Exemption:
    reason: str
    applies: Callable[[str, str, int], bool]  # (method, path, status) of a response
    shown: re.Pattern[str]  # group 1 is the value shown by design


EXEMPTIONS = (
    Exemption(
        "API token creation returns the plaintext once",
        lambda method, path, status: method == "POST" and path == "/api/v1/tokens/" and status == 201,
        re.compile(r'"token"\s*:\s*"([^"]+)"'),
    ),
    Exemption(
        "the admin shows a new token once, in a message",
        lambda method, path, status: method == "GET" and status == 200,
        re.compile(r"it is shown only once: (\S+?)(?:<|\s|$)"),
    ),
)


@dataclass(slots=True)
class Captured:
    where: str
    text: str


@dataclass
class SecretScan:
    secrets: dict[str, str] = field(default_factory=dict)  # value -> kind
    captured: list[Captured] = field(default_factory=list)

    def register(self, value: Any, kind: str) -> None:
        if isinstance(value, bytes):
            for encoded in _encodings(value):
                self.register(encoded, kind)
            return
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            self.secrets.setdefault(value, kind)

    def register_sealed(self, plaintext: str) -> None:
        """A sealed column holds JSON (credentials, env, OAuth settings and tokens) or a plain string: every string
        in it is a secret except the public OAuth settings sealed beside a client secret (``_PUBLIC_KEYS``)."""
        try:
            value = json.loads(plaintext)
        except ValueError:
            value = plaintext
        for leaf in _strings(value):
            self.register(leaf, "sealed value")

    def capture(self, where: str, payload: Any, *, exempt: Iterable[Exemption] = ()) -> None:
        if isinstance(payload, (bytes, bytearray)):
            text = bytes(payload).decode("utf-8", "backslashreplace")
        else:
            text = str(payload)
        for exemption in exempt:
            text = exemption.shown.sub(lambda match: match.group(0).replace(match.group(1), "<shown once>"), text)
        if text:
            self.captured.append(Captured(where, text))

    def findings(self, *, forgiven_where: str | None = None) -> list[str]:
        found = []
        for item in self.captured:
            if forgiven_where is not None and forgiven_where in item.where:
                continue
            for secret, kind in self.secrets.items():
                if secret in item.text:
                    found.append(f"a {kind} ({_masked(secret)}) appeared in {item.where}")
        return found

    def forgive(self) -> None:
        """Forget what was captured so far (the scanner's own tests leak on purpose)."""
        self.captured.clear()


def _encodings(raw: bytes) -> list[str]:
    encoded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), raw.hex()]
    return encoded + [value.rstrip("=") for value in encoded[:2]]


# Sealed with an upstream's OAuth client secret, yet public by nature: they travel in authorization URLs and
# metadata documents and show in the admin.
_PUBLIC_KEYS = frozenset({"client_id", "issuer", "token_endpoint", "authorization_endpoint", "registration_endpoint",
                          "scope", "resource"})


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _PUBLIC_KEYS:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _masked(secret: str) -> str:
    return f"{secret[:4]}…, {len(secret)} chars"


scan = SecretScan()


# --- where secrets are born -----------------------------------------------------------------------------------------


def _replace_everywhere(original: Callable, replacement: Callable) -> None:
    """Rebind ``original`` in every loaded module (``from x import f`` copies the name into the importer)."""
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            if value is original:
                setattr(module, name, replacement)


def _registering(original: Callable, register: Callable[[Any, tuple, dict], None]) -> Callable:
    @wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        register(result, args, kwargs)
        return result

    return wrapper


def _hook_creation() -> None:
    from django.contrib.auth import hashers

    from config import crypto
    from tokens import jwt, secrets

    hooks = [
        (secrets.token_generate, lambda result, args, kwargs: scan.register(result[0], "API token plaintext")),
        (jwt.jwt_mint, lambda result, args, kwargs: scan.register(result[0], "JWT")),
        (crypto.seal, lambda result, args, kwargs: scan.register_sealed(args[0] if args else kwargs["plaintext"])),
    ]
    for original, register in hooks:
        _replace_everywhere(original, _registering(original, register))
    # Passwords at the hasher: factories hold make_password itself from before any hook could rebind it.
    for hasher in {type(hasher) for hasher in hashers.get_hashers()}:
        hasher.encode = _registering(hasher.encode, lambda result, args, kwargs: scan.register(
            args[1] if len(args) > 1 else kwargs.get("password"), "password"))


def _register_settings() -> None:
    from django.conf import settings

    from tokens.jwt import signing_key

    scan.register(settings.SECRET_KEY, "SECRET_KEY")
    for setting in ("GATEHOUSE_ENCRYPTION_KEYS", "GATEHOUSE_TOKEN_PEPPERS"):
        for key in getattr(settings, setting, {}).values():
            scan.register(key, setting)
    scan.register(getattr(settings, "METRICS_TOKEN", ""), "METRICS_TOKEN")
    try:
        scan.register(signing_key(), "JWT signing key")
    except Exception:  # noqa: BLE001 - an unconfigured JWT key is no secret to look for
        pass


# --- where output leaves ----------------------------------------------------------------------------------------------


def _capture_response(request, response) -> None:
    if getattr(response, "streaming", False):
        return
    method, path, status = request.method, request.path, response.status_code
    exempt = [exemption for exemption in EXEMPTIONS if exemption.applies(method, path, status)]
    where = f"the response to {method} {path} ({status})"
    scan.capture(where, response.content, exempt=exempt)
    scan.capture(f"the headers of {where}", "\n".join(f"{k}: {v}" for k, v in response.items()))


def _hook_output() -> None:
    from asgiref.testing import ApplicationCommunicator
    from django.core.handlers.base import BaseHandler

    get_response, get_response_async = BaseHandler.get_response, BaseHandler.get_response_async
    receive_output = ApplicationCommunicator.receive_output

    @wraps(get_response)
    def get_response_captured(self, request):
        response = get_response(self, request)
        _capture_response(request, response)
        return response

    @wraps(get_response_async)
    async def get_response_async_captured(self, request):
        response = await get_response_async(self, request)
        _capture_response(request, response)
        return response

    @wraps(receive_output)
    async def receive_output_captured(self, *args, **kwargs):
        message = await receive_output(self, *args, **kwargs)
        where = f"an ASGI message ({message.get('type')}) to {self.scope.get('path')}"
        for key in ("body", "text", "bytes", "headers"):
            if message.get(key):
                scan.capture(where, message[key])
        return message

    BaseHandler.get_response = get_response_captured
    BaseHandler.get_response_async = get_response_async_captured
    ApplicationCommunicator.receive_output = receive_output_captured


_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


def _hook_logging() -> None:
    """Every record a logger hands to its handlers, whatever the configuration (django.setup() reapplies LOGGING
    and drops handlers added to the root logger)."""
    call_handlers = logging.Logger.callHandlers

    @wraps(call_handlers)
    def call_handlers_captured(self, record):
        try:
            scan.capture(f"a log record of {record.name} ({record.levelname})", _FORMAT.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is logging's problem, not a leak
            pass
        call_handlers(self, record)

    logging.Logger.callHandlers = call_handlers_captured


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "secret_shown(reason, where): this test shows a stored secret on purpose, only in places naming where"
    )


def pytest_sessionstart(session) -> None:
    _hook_creation()
    _hook_output()
    _register_settings()
    _hook_logging()


@pytest.fixture(autouse=True)
def _no_secret_leaves(request):
    """Fail the test if a stored secret left through a response or a log record while it ran (or while an earlier
    test's fixtures were torn down after its own check: nothing captured is dropped unchecked)."""
    yield
    shown = request.node.get_closest_marker("secret_shown")
    findings = scan.findings(forgiven_where=shown.kwargs["where"] if shown else None)
    scan.forgive()
    if findings:
        pytest.fail("Secret scan: " + "; ".join(sorted(set(findings))), pytrace=False)


@pytest.fixture
def secret_scan() -> SecretScan:
    return scan
