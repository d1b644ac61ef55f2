"""API tokens: shown once, stored as lookup + HMAC, authenticated against live state, peppers rotatable."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from tests.factories import VirtualServerFactory
from tokens.authentication import token_authenticate
from tokens.models import ApiToken
from tokens.secrets import token_lookup
from tokens.services import token_create, token_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(owner):
    """An unrestricted token of the owner: (row, raw string)."""
    return token_create(user=owner, name="laptop")


def test_token_string_is_gth_prefixed(issued):
    _, raw = issued
    assert raw.startswith("gth_")


def test_token_row_holds_the_lookup_part_of_the_string(issued):
    token, raw = issued
    assert token_lookup(raw) == token.lookup == raw[4:12]


def test_token_row_holds_an_hmac_sha256_of_the_string_under_its_pepper(issued):
    token, raw = issued
    pepper = settings.GATEHOUSE_TOKEN_PEPPERS[token.pepper_id]
    assert token.digest == hmac.new(pepper, raw.encode(), hashlib.sha256).hexdigest()


def test_token_string_appears_in_no_database_column(issued):
    _, raw = issued
    secret_part = raw[12:]
    for model in apps.get_models():
        for row in model.objects.values():
            for column, value in row.items():
                assert secret_part not in str(value), f"{model._meta.label}.{column} holds the token secret"


def test_token_authenticates_as_its_user(issued, owner):
    token, raw = issued
    found, principal = token_authenticate(raw)
    assert (found.pk, principal.user_id, principal.token_id) == (token.pk, owner.pk, token.pk)


def test_wrong_secret_with_a_right_lookup_is_refused(issued):
    _, raw = issued
    forged = raw[:12] + secrets.token_urlsafe(32)
    assert token_authenticate(forged) is None


def test_revoked_token_is_refused(issued, owner):
    token, raw = issued
    token_revoke(token=token, actor=owner)
    assert token_authenticate(raw) is None


def test_expired_token_is_refused(issued):
    token, raw = issued
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert token_authenticate(raw) is None


def test_token_of_an_inactive_user_is_refused(issued, owner):
    _, raw = issued
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert token_authenticate(raw) is None


def test_server_restricted_token_carries_its_servers(owner):
    server = VirtualServerFactory(owner=owner)
    _, raw = token_create(user=owner, name="ci", servers=[server])
    _, principal = token_authenticate(raw)
    assert principal.server_ids == frozenset({server.pk})


PEPPER_A = secrets.token_bytes(32)
PEPPER_B = secrets.token_bytes(32)


def _token_under_pepper_a(owner) -> str:
    with override_settings(GATEHOUSE_TOKEN_PEPPERS={"a": PEPPER_A}):
        token, raw = token_create(user=owner, name="old pepper")
    assert token.pepper_id == "a"
    return raw


def test_token_digested_under_an_old_pepper_still_authenticates_after_rotation(owner):
    raw = _token_under_pepper_a(owner)
    with override_settings(GATEHOUSE_TOKEN_PEPPERS={"b": PEPPER_B, "a": PEPPER_A}):
        assert token_authenticate(raw) is not None


def test_new_tokens_are_digested_under_the_first_pepper(owner):
    with override_settings(GATEHOUSE_TOKEN_PEPPERS={"b": PEPPER_B, "a": PEPPER_A}):
        token, _ = token_create(user=owner, name="new pepper")
    assert token.pepper_id == "b"


def test_token_is_refused_once_its_pepper_is_removed(owner):
    raw = _token_under_pepper_a(owner)
    with override_settings(GATEHOUSE_TOKEN_PEPPERS={"b": PEPPER_B}):
        assert token_authenticate(raw) is None


def test_create_token_command_prints_a_working_token_on_the_last_line(owner):
    out = StringIO()
    call_command("create_token", "--email", owner.email, "--name", "cli", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    found, _ = token_authenticate(raw)
    assert found.user_id == owner.pk


def test_create_token_command_restricts_the_token_to_named_servers(owner):
    server = VirtualServerFactory(owner=owner, slug="demo")
    out = StringIO()
    call_command("create_token", "--email", owner.email, "--server", "demo", stdout=out)
    _, principal = token_authenticate(out.getvalue().strip().splitlines()[-1])
    assert principal.server_ids == frozenset({server.pk})


def test_create_token_command_refuses_an_unknown_server_slug(owner):
    with pytest.raises(CommandError, match="no-such-server"):
        call_command("create_token", "--email", owner.email, "--server", "no-such-server", stdout=StringIO())
    assert not ApiToken.objects.exists()


def test_create_token_command_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="nobody@example.com"):
        call_command("create_token", "--email", "nobody@example.com", stdout=StringIO())


def test_token_restricted_to_a_deleted_server_reaches_no_server(owner):
    from catalog.services import server_delete
    from tests.factories import VirtualServerFactory
    from tokens.services import token_create

    server = VirtualServerFactory(owner=owner)
    _, raw = token_create(user=owner, name="narrow", servers=[server])
    server_delete(server=server, actor=owner)

    _, principal = token_authenticate(raw)
    assert principal.server_ids == frozenset()
