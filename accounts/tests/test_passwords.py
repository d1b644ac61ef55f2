"""Passwords: Argon2id with the configured costs, and a policy whose refusals say what to change."""
from __future__ import annotations

import argon2
import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import override_settings

from accounts.models import User
from config.settings import base as base_settings

ARGON2_ONLY = ["accounts.hashers.GatehouseArgon2PasswordHasher"]


@override_settings(PASSWORD_HASHERS=ARGON2_ONLY, ARGON2_TIME_COST=2, ARGON2_MEMORY_COST=1024, ARGON2_PARALLELISM=1)
def test_hash_is_argon2id_with_the_configured_costs():
    encoded = make_password("Correct-Horse-7")
    params = argon2.extract_parameters(encoded.removeprefix("argon2"))
    assert params.type is argon2.Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (2, 1024, 1)
    assert check_password("Correct-Horse-7", encoded)


@override_settings(PASSWORD_HASHERS=ARGON2_ONLY, ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=1024, ARGON2_PARALLELISM=1)
def test_changed_costs_ask_for_a_rehash():
    encoded = make_password("Correct-Horse-7")
    with override_settings(ARGON2_TIME_COST=2):
        assert identify_hasher(encoded).must_update(encoded)
    assert not identify_hasher(encoded).must_update(encoded)


def test_costs_come_from_the_environment(monkeypatch):
    import importlib

    monkeypatch.setenv("ARGON2_TIME_COST", "5")
    monkeypatch.setenv("ARGON2_MEMORY_COST", "2048")
    monkeypatch.setenv("ARGON2_PARALLELISM", "2")
    try:
        reloaded = importlib.reload(base_settings)
        assert (reloaded.ARGON2_TIME_COST, reloaded.ARGON2_MEMORY_COST, reloaded.ARGON2_PARALLELISM) == (5, 2048, 2)
    finally:
        monkeypatch.undo()
        importlib.reload(base_settings)


def _refusal(password: str, user=None) -> str:
    with pytest.raises(ValidationError) as refused:
        validate_password(password, user=user)
    return " ".join(refused.value.messages)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Sh0rt!", "too short. It must contain at least 12 characters"),
        ("alllowercaseletters", "needs characters from at least 3 of these kinds"),
        ("Password1234", "too common"),
    ],
)
def test_policy_refuses_with_a_clear_message(password, expected):
    assert expected in _refusal(password)


def test_complexity_message_names_what_is_missing():
    assert "Add some uppercase letters or digits or symbols." in _refusal("onlylowercasebutlong")


def test_password_similar_to_the_email_is_refused():
    user = User(email="marguerite.dubois@example.com")
    assert "too similar to the email" in _refusal("Marguerite.Dubois1", user=user)


def test_a_good_password_passes():
    validate_password("Ample-Tangerine-Orbit-42", user=User(email="someone@example.com"))


def test_minimum_length_comes_from_the_environment(monkeypatch):
    import importlib

    monkeypatch.setenv("PASSWORD_MIN_LENGTH", "20")
    try:
        validators = importlib.reload(base_settings).AUTH_PASSWORD_VALIDATORS
    finally:
        monkeypatch.undo()
        importlib.reload(base_settings)
    with override_settings(AUTH_PASSWORD_VALIDATORS=validators):
        assert "at least 20 characters" in _refusal("Ample-Tangerine-42")
