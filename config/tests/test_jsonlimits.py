"""JSON caps: nesting depth and number of values, checked without recursion."""
from __future__ import annotations

import pytest

from config.jsonlimits import JsonTooComplex, json_check_limits


def _nested(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_up_to_the_cap_is_accepted(settings):
    settings.GATEHOUSE_MAX_JSON_DEPTH = 64
    json_check_limits(_nested(64))
    json_check_limits({"tool": {"arguments": {"a": [1, 2, {"b": None}]}}})


def test_nesting_past_the_cap_is_refused(settings):
    settings.GATEHOUSE_MAX_JSON_DEPTH = 64
    with pytest.raises(JsonTooComplex, match="64"):
        json_check_limits(_nested(65))


def test_a_hostile_depth_is_refused_without_exhausting_the_stack(settings):
    settings.GATEHOUSE_MAX_JSON_DEPTH = 64
    hostile = _nested(200_000)
    with pytest.raises(JsonTooComplex):
        json_check_limits(hostile)


def test_too_many_values_are_refused(settings):
    settings.GATEHOUSE_MAX_JSON_MEMBERS = 1000
    with pytest.raises(JsonTooComplex, match="1000"):
        json_check_limits({"items": list(range(2000))})


@pytest.mark.parametrize("value", ["\ud800", ["ok", "x\udfff"], {"k\udc00": 1}])
def test_unpaired_surrogates_are_refused(value):
    with pytest.raises(JsonTooComplex, match="surrogate"):
        json_check_limits(value)


def test_astral_characters_are_accepted():
    json_check_limits({"emoji \U0001F600": "\U0001F600"})
