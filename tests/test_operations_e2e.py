"""Operations end to end: a real Celery worker and beat on PostgreSQL and Redis keep upstream health, and a real
Gatehouse process honours it. An upstream killed → marked unhealthy and calls fail fast → restarted → healthy again;
an upstream that gains a tool → the worker's federation sync puts it in the catalog."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.mcp_clients import raw_session
from tests.processes import ROOT, FixtureUpstream, _stop, database_url, free_port, gatehouse_server
from tests.published import upstream_published

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)",
    ),
]

OPERATIONS_ENV = {
    "CELERY_TASK_ALWAYS_EAGER": "false",
    "UNHEALTHY_THRESHOLD": "2",
    "HEALTH_CHECK_INTERVAL_SECONDS": "1",
    "HEALTH_CHECK_TIMEOUT_SECONDS": "2",
    # Long enough that recovery in this test can only come from the probes, not from a half-open trial call.
    "CIRCUIT_BREAKER_COOLDOWN_SECONDS": "600",
}


@contextmanager
def celery(role: str, settings_dict: dict, log: Path, extra_env: dict[str, str] | None = None):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url(settings_dict),
           **OPERATIONS_ENV, **(extra_env or {})}
    command = [sys.executable, "-m", "celery", "-A", "config", role, "-l", "info"]
    command += ["--pool", "solo"] if role == "worker" else ["--max-interval", "1"]
    with open(log, "ab") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            _stop(process)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting until {what}")


def _status(upstream_id: int) -> str | None:
    from catalog.models import UpstreamHealth

    return UpstreamHealth.objects.filter(upstream_id=upstream_id).values_list("status", flat=True).first()


async def _echo(base: str, token: str) -> tuple[dict, float]:
    async with raw_session(f"{base}/servers/ops/mcp", token) as session:
        started = time.monotonic()
        response = await session.post(session.request("tools/call", {"name": "fixture__echo", "arguments": {"text": "x"}}))
        return response.json(), time.monotonic() - started


def test_worker_and_beat_keep_upstream_health_and_the_gateway_fails_fast(tmp_path, settings):
    from django.db import connection

    from django_celery_beat.models import PeriodicTask

    from catalog.models import Tool
    from catalog.tasks import federation_sync_upstream
    from config.celery import app
    from config.schedules import schedules_ensure
    from proxy.upstream.breaker import CLOSED, OPEN, breaker_close, breaker_state

    settings.HEALTH_CHECK_TICK_SECONDS = 1
    upstream_process = FixtureUpstream(free_port(), hide=("add",)).start()
    published = upstream_published(email="ops-e2e@example.com", url=upstream_process.url, server_slug="ops", timeout_seconds=3)
    upstream_id = published.upstream.pk
    breaker_close(upstream_id)
    PeriodicTask.objects.all().delete()
    assert schedules_ensure()  # the beat entries, with a one-second health tick
    try:
        with ExitStack() as stack:
            stack.enter_context(celery("worker", connection.settings_dict, tmp_path / "worker.log"))
            stack.enter_context(celery("beat", connection.settings_dict, tmp_path / "beat.log"))
            base = stack.enter_context(gatehouse_server(connection.settings_dict, tmp_path / "gw.log", OPERATIONS_ENV))

            _wait_for(lambda: _status(upstream_id) == "healthy", 45, "beat and worker probe the upstream healthy")
            reply, _ = asyncio.run(_echo(base, published.token))
            assert reply["result"]["content"][0]["text"] == "x"

            upstream_process.stop()
            # The breaker changes right after the status commits: wait for both.
            _wait_for(
                lambda: _status(upstream_id) == "unhealthy" and breaker_state(upstream_id) == OPEN, 30,
                "the dead upstream is marked unhealthy and its breaker opens",
            )
            reply, elapsed = asyncio.run(_echo(base, published.token))
            assert reply["error"] == {"code": -32000, "message": "Upstream 'fixture' is unavailable."}
            assert elapsed < 0.5
            # Fast because of the breaker, not a refused connection: the pool never tried, so never logged a failure.
            assert "Upstream fixture is unavailable" not in (tmp_path / "gw.log").read_text()

            upstream_process.hide = ()
            upstream_process.start()
            _wait_for(
                lambda: _status(upstream_id) == "healthy" and breaker_state(upstream_id) == CLOSED, 30,
                "the restarted upstream is healthy again and its breaker closed",
            )
            reply, _ = asyncio.run(_echo(base, published.token))
            assert reply["result"]["content"][0]["text"] == "x"

            # The restarted upstream offers one more tool; the worker's federation sync brings it into the catalog.
            app.conf.task_always_eager = False
            try:
                federation_sync_upstream.delay(upstream_id)
            finally:
                app.conf.task_always_eager = True
            _wait_for(
                lambda: Tool.objects.filter(upstream_id=upstream_id, original_name="add").exists(), 30,
                "the worker's sync adds the new tool",
            )
    finally:
        upstream_process.stop()
        breaker_close(upstream_id)
