"""Fixtures shared by every app's tests: three actors, real upstream processes, a real Gatehouse process."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes import CONFORMANCE_SERVER, STATEFUL_SERVER, FixtureUpstream, gatehouse_server

# Every test fails if a stored secret shows up in a response or a log record (tests/secret_scan.py).
pytest_plugins = ["tests.secret_scan"]


@pytest.fixture(scope="session", autouse=True)
def _flush_keeps_content_types(django_db_setup):
    """Once the test database is migrated, its content types and permissions are complete, and the test engines'
    flush leaves them alone (config.testdb): the post_migrate handlers that would re-create them after every flush
    are disconnected for the session."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes
    from django.db.models.signals import post_migrate

    uid = "django.contrib.auth.management.create_permissions"
    post_migrate.disconnect(create_permissions, dispatch_uid=uid)
    post_migrate.disconnect(create_contenttypes)
    yield
    post_migrate.connect(create_contenttypes)
    post_migrate.connect(create_permissions, dispatch_uid=uid)


@pytest.fixture(autouse=True)
def _fresh_memos():
    """Each test's database starts its catalog version over: memos keyed by version, and token usage buffered for
    rows of another test's database, must not outlive the test."""
    from config.memo import memos_clear
    from tokens.usage import usage_buffer

    memos_clear()
    usage_buffer.discard()
    yield
    memos_clear()
    usage_buffer.discard()


@pytest.fixture(autouse=True)
def _close_connections_of_the_sync_thread():
    """Async tests run ORM work on asgiref's shared sync thread; close its connection so no test leaves one open
    (an open connection keeps PostgreSQL from dropping the test database)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture
def owner(db):
    from tests.factories import UserFactory

    return UserFactory(email="owner@example.com")


@pytest.fixture
def team(db, owner):
    from teams.models import Membership
    from tests.factories import MembershipFactory, TeamFactory

    team = TeamFactory(name="Platform", slug="platform")
    MembershipFactory(user=owner, team=team, role=Membership.Role.OWNER)
    return team


@pytest.fixture
def teammate(db, team):
    from tests.factories import MembershipFactory, UserFactory

    user = UserFactory(email="teammate@example.com")
    MembershipFactory(user=user, team=team)
    return user


@pytest.fixture
def outsider(db):
    from tests.factories import UserFactory

    return UserFactory(email="outsider@example.com")


@pytest.fixture
def admin_user(db):
    from accounts.models import User

    return User.objects.create_superuser(email="admin@example.com", password="admin-password-for-tests")


@pytest.fixture(scope="session")
def upstream_process():
    """The fixture upstream MCP server, a real process for the whole session."""
    upstream = FixtureUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def conformance_upstream():
    """The conformance fixture server: tools that sample, elicit, log, report progress and answer input_required."""
    upstream = FixtureUpstream(script=CONFORMANCE_SERVER).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def stateful_upstream():
    """A handshake-era-only upstream with a per-session counter and a tool that samples, then elicits."""
    upstream = FixtureUpstream(script=STATEFUL_SERVER).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gateway(django_db_setup, django_db_blocker, tmp_path_factory):
    """Gatehouse as a real uvicorn process on the test database; yields its base URL."""
    from django.db import connection

    log = Path(tmp_path_factory.mktemp("gateway")) / "gateway.log"
    with gatehouse_server(connection.settings_dict, log) as base_url:
        yield base_url
