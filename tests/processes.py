"""Real processes for tests: the fixture upstream and Gatehouse itself, on free loopback ports."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SERVER = ROOT / "tests" / "fixtures" / "upstream_server.py"
# The conformance suite's fixtures: sampling, elicitation, logging, progress, subscriptions and MRTR tools.
CONFORMANCE_SERVER = ROOT / "tests" / "fixtures" / "conformance_server.py"
STATEFUL_SERVER = ROOT / "tests" / "fixtures" / "stateful_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def running(command: list[str], port: int, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[subprocess.Popen]:
    output = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, process)
        yield process
    finally:
        _stop(process)
        if log:
            output.close()


class FixtureUpstream:
    """The fixture MCP server (tests/fixtures/upstream_server.py) as a real process that can be stopped and restarted."""

    def __init__(
        self, port: int | None = None, *, transport: str = "streamable-http", hide: tuple[str, ...] = (),
        script: Path = FIXTURE_SERVER, options: tuple[str, ...] = (),
    ):
        self.script = script
        self.port = port or free_port()
        self.transport = transport
        self.hide = hide
        self.options = options
        self._context = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{'sse' if self.transport == 'sse' else 'mcp'}"

    def start(self) -> FixtureUpstream:
        command = [sys.executable, str(self.script), "--port", str(self.port), "--transport", self.transport]
        for name in self.hide:
            command += ["--hide", name]
        command += list(self.options)
        self._context = running(command, self.port)
        self._context.__enter__()
        return self

    def stop(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database pytest-django set up, so a server process uses the same one."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


def _gatehouse_env(settings_dict: dict, extra_env: dict[str, str] | None) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(settings_dict),
        "GATEHOUSE_CATALOG_VERSION_TTL_SECONDS": "1",
        **(extra_env or {}),
    }


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 20
    while httpx2.get(f"{base}/health").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("Gatehouse did not become healthy")
        time.sleep(0.1)


@contextmanager
def gatehouse_server(settings_dict: dict, log: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Gatehouse under uvicorn, on the test database; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--lifespan", "on",
    ]
    with running(command, port, env=_gatehouse_env(settings_dict, extra_env), log=log):
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base)
        yield base


@contextmanager
def gatehouse_serve(
    settings_dict: dict, log: Path, *options: str, extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Gatehouse started the production way (`manage.py serve`), on the test database; yields its base URL and the
    process, so a test can signal it."""
    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--port", str(port), "--log-level", "info", *options]
    with running(command, port, env=_gatehouse_env(settings_dict, extra_env), log=log) as process:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base)
        yield base, process
