"""Configuration: typed environment readers, key rings, sealed secrets, production refusals, health checks."""
from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from config.crypto import SecretDecryptionError, seal, unseal
from config.env import env_bool, env_int, env_secret
from config.settings.keyring import new_key_entry, parse_key_ring
from tests.processes import ROOT


def _key() -> bytes:
    return secrets.token_bytes(32)


def _encoded(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


# --- config.env -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_env_bool_accepts_exactly_true_and_false(monkeypatch, value, expected):
    monkeypatch.setenv("GATEHOUSE_TEST_FLAG", value)
    assert env_bool("GATEHOUSE_TEST_FLAG", not expected) is expected


def test_env_bool_returns_default_when_unset(monkeypatch):
    monkeypatch.delenv("GATEHOUSE_TEST_FLAG", raising=False)
    assert env_bool("GATEHOUSE_TEST_FLAG", True) is True


@pytest.mark.parametrize("value", ["yes", "1", "True", "on", ""])
def test_env_bool_refuses_ambiguous_values(monkeypatch, value):
    monkeypatch.setenv("GATEHOUSE_TEST_FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="GATEHOUSE_TEST_FLAG"):
        env_bool("GATEHOUSE_TEST_FLAG", False)


def test_env_secret_reads_the_file_named_by_name_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.delenv("GATEHOUSE_TEST_SECRET", raising=False)
    monkeypatch.setenv("GATEHOUSE_TEST_SECRET_FILE", str(secret_file))
    assert env_secret("GATEHOUSE_TEST_SECRET") == "from-a-file"


def test_env_secret_refuses_both_name_and_name_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file")
    monkeypatch.setenv("GATEHOUSE_TEST_SECRET", "direct")
    monkeypatch.setenv("GATEHOUSE_TEST_SECRET_FILE", str(secret_file))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("GATEHOUSE_TEST_SECRET")


def test_env_secret_refuses_an_unreadable_file(monkeypatch, tmp_path):
    monkeypatch.delenv("GATEHOUSE_TEST_SECRET", raising=False)
    monkeypatch.setenv("GATEHOUSE_TEST_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="GATEHOUSE_TEST_SECRET_FILE"):
        env_secret("GATEHOUSE_TEST_SECRET")


def test_env_int_refuses_a_value_below_the_minimum(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_TEST_NUMBER", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("GATEHOUSE_TEST_NUMBER", 5, minimum=1)


def test_env_int_accepts_the_minimum_itself(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_TEST_NUMBER", "1")
    assert env_int("GATEHOUSE_TEST_NUMBER", 5, minimum=1) == 1


def test_env_int_refuses_a_non_integer(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_TEST_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="GATEHOUSE_TEST_NUMBER must be an integer"):
        env_int("GATEHOUSE_TEST_NUMBER", 5)


# --- key rings --------------------------------------------------------------------------------------------------


def test_key_ring_keeps_entries_in_order_with_the_first_active():
    first, second = _key(), _key()
    ring = parse_key_ring("RING", f"new:{_encoded(first)}, old:{_encoded(second)}", key_bytes=32)
    assert list(ring.items()) == [("new", first), ("old", second)]


def test_generated_key_entry_parses_back():
    assert len(parse_key_ring("RING", new_key_entry("k1"), key_bytes=32)["k1"]) == 32


SHORT = _encoded(secrets.token_bytes(16))
LONG = _encoded(secrets.token_bytes(48))
GOOD = _encoded(secrets.token_bytes(32))
STANDARD_ALPHABET = base64.b64encode(b"\xfb\xff" * 16).decode()  # '+' and '/' instead of '-' and '_'


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        pytest.param(GOOD, GOOD, id="missing-id"),
        pytest.param(f"bad id!:{GOOD}", GOOD, id="bad-id"),
        pytest.param(f"k1:{SHORT}", SHORT, id="too-short"),
        pytest.param(f"k1:{LONG}", LONG, id="wrong-length"),
        pytest.param(f"k1:{GOOD}@@@=", GOOD, id="bad-base64"),
        pytest.param(f"k1:{STANDARD_ALPHABET}", STANDARD_ALPHABET, id="standard-base64"),
        pytest.param(f"k1:{GOOD},k1:{GOOD}", GOOD, id="duplicate-id"),
        pytest.param(" , ", None, id="empty"),
    ],
)
def test_key_ring_refuses_bad_entries_without_echoing_key_material(value, secret):
    with pytest.raises(ImproperlyConfigured) as refused:
        parse_key_ring("GATEHOUSE_ENCRYPTION_KEYS", value, key_bytes=32)
    message = str(refused.value)
    assert "GATEHOUSE_ENCRYPTION_KEYS" in message
    if secret is not None:
        assert secret not in message and secret[:12] not in message


# --- sealed secrets ---------------------------------------------------------------------------------------------


@pytest.fixture
def ring_a():
    return {"a": _key()}


def test_sealed_value_opens_with_the_same_purpose(ring_a):
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=ring_a):
        sealed = seal("upstream password", purpose="test.one")
        assert unseal(sealed, purpose="test.one") == "upstream password"


def test_sealed_value_names_its_key_and_hides_the_plaintext(ring_a):
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=ring_a):
        sealed = seal("upstream password", purpose="test.one")
    assert sealed.startswith("a:")
    assert "upstream password" not in sealed


def test_sealed_value_is_refused_for_another_purpose(ring_a):
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=ring_a):
        sealed = seal("upstream password", purpose="test.one")
        with pytest.raises(SecretDecryptionError):
            unseal(sealed, purpose="test.two")


def test_tampered_sealed_value_is_refused(ring_a):
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=ring_a):
        key_id, _, encoded = seal("upstream password", purpose="test.one").partition(":")
        raw = bytearray(base64.urlsafe_b64decode(encoded))
        raw[15] ^= 0x01  # a ciphertext byte, after the 12-byte nonce
        tampered = f"{key_id}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
        with pytest.raises(SecretDecryptionError):
            unseal(tampered, purpose="test.one")


def test_value_sealed_under_an_old_key_opens_after_rotation(ring_a):
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=ring_a):
        sealed = seal("upstream password", purpose="test.one")
    rotated = {"b": _key(), **ring_a}
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=rotated):
        assert unseal(sealed, purpose="test.one") == "upstream password"
        assert seal("new value", purpose="test.one").startswith("b:")


def test_value_sealed_under_a_removed_key_is_refused(ring_a):
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS=ring_a):
        sealed = seal("upstream password", purpose="test.one")
    with override_settings(GATEHOUSE_ENCRYPTION_KEYS={"b": _key()}):
        with pytest.raises(SecretDecryptionError, match="'a'"):
            unseal(sealed, purpose="test.one")


# --- production settings ----------------------------------------------------------------------------------------

STRONG_PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "gatehouse.example.com",
    "GATEHOUSE_ENCRYPTION_KEYS": new_key_entry("prod1"),
    "GATEHOUSE_TOKEN_PEPPERS": new_key_entry("prod1"),
}
_INHERITED = ("SECRET_KEY", "ALLOWED_HOSTS", "GATEHOUSE_ENCRYPTION_KEYS", "GATEHOUSE_TOKEN_PEPPERS", "DEBUG")


def _start_production(env: dict[str, str], *, code: str = "") -> subprocess.CompletedProcess:
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED) and name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_start_with_strong_values():
    started = _start_production(STRONG_PRODUCTION_ENV)
    assert started.returncode == 0, started.stderr


def _without(name: str) -> dict[str, str]:
    return {key: value for key, value in STRONG_PRODUCTION_ENV.items() if key != name}


def _with(name: str, value: str) -> dict[str, str]:
    return {**STRONG_PRODUCTION_ENV, name: value}


@pytest.mark.parametrize(
    ("variable", "env"),
    [
        pytest.param("SECRET_KEY", _without("SECRET_KEY"), id="no-secret-key"),
        pytest.param("SECRET_KEY", _with("SECRET_KEY", "django-insecure-" + "a" * 50), id="weak-secret-key"),
        pytest.param("SECRET_KEY", _with("SECRET_KEY", "short-but-random-9fQ"), id="short-secret-key"),
        pytest.param("ALLOWED_HOSTS", _without("ALLOWED_HOSTS"), id="no-allowed-hosts"),
        pytest.param("GATEHOUSE_ENCRYPTION_KEYS", _without("GATEHOUSE_ENCRYPTION_KEYS"), id="no-encryption-keys"),
        pytest.param("GATEHOUSE_TOKEN_PEPPERS", _without("GATEHOUSE_TOKEN_PEPPERS"), id="no-token-peppers"),
    ],
)
def test_production_settings_refuse_to_start_without_a_strong_value(variable, env):
    started = _start_production(env)
    assert started.returncode != 0
    assert "ImproperlyConfigured: " in started.stderr
    last_line = started.stderr.strip().splitlines()[-1]
    assert variable in last_line


# --- health and readiness ---------------------------------------------------------------------------------------


def test_health_answers_200_json(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_database_cache_and_channel_layer_ok(client, db):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "channel_layer": "ok"},
    }
