"""rotate_encryption_key: every sealed secret moves to the active key, in batches, idempotently."""
from __future__ import annotations

import base64
import os

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from catalog import services
from catalog.models import Upstream
from catalog.selectors import upstream_target

pytestmark = pytest.mark.django_db


def _key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def old_ring(settings):
    settings.GATEHOUSE_ENCRYPTION_KEYS = {"old": _key()}
    return settings


def _register(owner, count: int) -> list[Upstream]:
    upstreams = [
        services.upstream_create(owner=owner, name=f"bearer{n}", url=f"https://mcp{n}.example.com/mcp",
                                 auth_type="bearer", credentials={"token": f"secret-token-{n}"})
        for n in range(count)
    ]
    upstreams.append(services.upstream_create(
        owner=owner, name="stdio", transport="stdio", command="/bin/true", env={"API_KEY": "stdio-secret"}
    ))
    upstreams.append(services.upstream_create(owner=owner, name="open", url="https://open.example.com/mcp"))
    return upstreams


def _key_ids() -> set[str]:
    ids = set()
    for credentials, env in Upstream.objects.values_list("credentials_sealed", "env_sealed"):
        ids.update(value.partition(":")[0] for value in (credentials, env) if value)
    return ids


def test_rotation_reseals_every_secret_under_the_new_key_in_batches(old_ring, owner, capsys):
    _register(owner, 5)
    assert _key_ids() == {"old"}
    old_ring.GATEHOUSE_ENCRYPTION_KEYS = {"new": _key(), **old_ring.GATEHOUSE_ENCRYPTION_KEYS}
    call_command("rotate_encryption_key", "--batch-size", "2")
    assert "re-encrypted 6 secret(s), 0 already current, 0 unreadable" in capsys.readouterr().out
    assert _key_ids() == {"new"}
    # The old key can go: every secret still opens with the new ring alone.
    old_ring.GATEHOUSE_ENCRYPTION_KEYS = {"new": old_ring.GATEHOUSE_ENCRYPTION_KEYS["new"]}
    target = upstream_target(Upstream.objects.get(name="bearer3"))
    assert dict(target.headers)["Authorization"] == "Bearer secret-token-3"
    assert dict(upstream_target(Upstream.objects.get(name="stdio")).env) == {"API_KEY": "stdio-secret"}


def test_rotation_is_idempotent(old_ring, owner, capsys):
    _register(owner, 2)
    old_ring.GATEHOUSE_ENCRYPTION_KEYS = {"new": _key(), **old_ring.GATEHOUSE_ENCRYPTION_KEYS}
    call_command("rotate_encryption_key")
    before = list(Upstream.objects.order_by("pk").values_list("credentials_sealed", "env_sealed"))
    capsys.readouterr()
    call_command("rotate_encryption_key")
    assert "re-encrypted 0 secret(s), 3 already current" in capsys.readouterr().out
    assert list(Upstream.objects.order_by("pk").values_list("credentials_sealed", "env_sealed")) == before


def test_a_secret_no_key_opens_is_reported_and_left_alone(old_ring, owner):
    _register(owner, 1)
    old_ring.GATEHOUSE_ENCRYPTION_KEYS = {"new": _key()}  # the old key was dropped too early
    with pytest.raises(CommandError, match="bearer0"):
        call_command("rotate_encryption_key")
    assert _key_ids() == {"old"}


def test_rotation_is_audited_without_key_material(old_ring, owner):
    _register(owner, 1)
    new = _key()
    old_ring.GATEHOUSE_ENCRYPTION_KEYS = {"new": new, **old_ring.GATEHOUSE_ENCRYPTION_KEYS}
    call_command("rotate_encryption_key")
    event = AuditEvent.objects.filter(action="encryption.rotate").latest("pk")
    assert event.data["active_id"] == "new" and event.data["resealed"] == 2
    assert base64.urlsafe_b64encode(new).decode() not in str(event.data)
