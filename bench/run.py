"""Gatehouse latency/throughput benchmark: the same MCP client calls `echo` directly and through the gateway.

Run from the repository root with the venv active:

    python bench/run.py [--calls N] [--concurrency C] [--server uvicorn|daphne|both]

Everything runs on loopback: the fixture upstream, Gatehouse (production settings, temporary database) and the load
client (this process). See bench/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS_DIR = REPO / "bench" / "results"
SERVER_SLUG = "bench"
TOOL = "echo"
ARGUMENTS = {"text": "hello"}
ERAS = {"legacy": "legacy", "modern": "2026-07-28"}  # --era → the SDK client's mode


def mode_note(era: str) -> str:
    return f"Client mode: mode={ERAS[era]!r} ({era} era) on both paths: the same client, the same protocol."


# --------------------------------------------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process(name: str, argv: list[str], env: dict[str, str], logdir: Path) -> Proc:
    """Start argv in its own process group (so it and its children can be stopped together), logging to a file."""
    log = logdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name, popen, log)


def stop_process(proc: Proc, timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not exited within ``timeout`` seconds."""
    if proc.popen.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.popen.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.popen.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until(check, proc: Proc, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited (code {proc.popen.returncode}) before {what}:\n{proc.log_tail()}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name}: timed out after {timeout:g}s waiting for {what}:\n{proc.log_tail()}")


def accepts_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------------------------------- gatehouse setup


def random_b64_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def gatehouse_env(tmpdir: Path) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        GATEHOUSE_VAR_DIR=str(tmpdir),
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmpdir}/bench.sqlite3",
        SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(64)),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        GATEHOUSE_ENCRYPTION_KEYS=f"b1:{random_b64_key()}",
        GATEHOUSE_TOKEN_PEPPERS=f"p1:{random_b64_key()}",
        PLATFORM_ADMIN_EMAIL="bench@example.com",
        PLATFORM_ADMIN_PASSWORD=secrets.token_urlsafe(24),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str, secret_output: bool = False) -> str:
    """Run a management command; its stdout is returned (and never shown when it holds a secret)."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        shown = "" if secret_output else result.stdout
        raise RuntimeError(f"manage.py {args[0]} failed ({result.returncode}):\n{shown}{result.stderr}")
    return result.stdout


def prepare_gatehouse(env: dict[str, str], upstream_port: int) -> str:
    """Migrate, register the upstream, compose the server and return a bearer token for it."""
    manage(env, "migrate", "-v0")
    manage(env, "add_upstream", "--name", "bench", "--url", f"http://127.0.0.1:{upstream_port}/mcp")
    manage(env, "create_server", "--slug", SERVER_SLUG, "--upstream", "bench", "--no-prefix")
    out = manage(
        env, "create_token", "--email", "bench@example.com", "--server", SERVER_SLUG, "--name", "bench",
        secret_output=True,
    )
    return out.strip().splitlines()[-1].strip()


def gateway_argv(kind: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [
            str(BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning", "--lifespan", "on",
        ]
    return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]


# --------------------------------------------------------------------------------------------------- measurement


@dataclass
class PhaseResult:
    calls: int = 0
    errors: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    first_error: str | None = None
    timed_out: bool = False
    started: float = 0.0  # perf_counter when the measured calls began

    def begin(self) -> None:
        self.started = time.perf_counter()

    def end(self) -> None:
        if self.started:
            self.wall_s = time.perf_counter() - self.started

    def record(self, started: float, error: str | None) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.calls += 1
        if error is not None:
            self.errors += 1
            self.first_error = self.first_error or error

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "calls": self.calls, "errors": self.errors, "wall_s": round(self.wall_s, 3), "timed_out": self.timed_out,
        }
        if self.first_error:
            data["first_error"] = self.first_error
        if len(self.latencies_ms) >= 2:
            cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
            data.update(p50_ms=round(cuts[49], 3), p95_ms=round(cuts[94], 3), p99_ms=round(cuts[98], 3))
        if self.wall_s > 0:
            data["calls_per_s"] = round(self.calls / self.wall_s, 1)
        return data


@asynccontextmanager
async def open_client(url: str, headers: dict[str, str], mode: str) -> AsyncIterator[mcp.Client]:
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http:
        transport = streamable_http_client(url, http_client=http)
        async with mcp.Client(transport, mode=mode, cache=None) as client:
            yield client


async def timed_call(client: mcp.Client, result: PhaseResult) -> None:
    started = time.perf_counter()
    error = None
    try:
        reply = await client.call_tool(TOOL, ARGUMENTS)
        if reply.is_error:
            error = f"tool error: {reply.content!r}"[:500]
    except Exception as exc:  # noqa: BLE001 - every failure is counted and the first one reported
        error = f"{type(exc).__name__}: {exc}"[:500]
    result.record(started, error)


async def warm_up(client: mcp.Client, calls: int) -> None:
    for _ in range(calls):
        await client.call_tool(TOOL, ARGUMENTS)


async def sequential(
    result: PhaseResult, url: str, headers: dict[str, str], mode: str, calls: int, warmup: int
) -> None:
    async with open_client(url, headers, mode) as client:
        await warm_up(client, warmup)
        result.begin()
        for _ in range(calls):
            await timed_call(client, result)
        result.end()


async def concurrent(
    result: PhaseResult, url: str, headers: dict[str, str], mode: str, calls: int, clients: int, warmup: int
) -> None:
    """``clients`` sessions, each warmed up, then all released together to share ``calls`` calls between them."""
    clients = min(clients, calls)
    shares = [calls // clients + (1 if index < calls % clients else 0) for index in range(clients)]
    ready = 0
    go = asyncio.Event()

    async def worker(share: int) -> None:
        nonlocal ready
        async with open_client(url, headers, mode) as client:
            await warm_up(client, max(1, warmup // clients))
            ready += 1
            if ready == clients:
                result.begin()
                go.set()
            await go.wait()
            for _ in range(share):
                await timed_call(client, result)

    await asyncio.gather(*(worker(share) for share in shares))
    result.end()


async def run_phase(name: str, phase, *args: Any, timeout: float) -> PhaseResult:
    """Run a phase under a hard deadline; on timeout or failure the calls made so far are kept and flagged."""
    result = PhaseResult()
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await phase(result, *args)
    except Exception as exc:  # noqa: BLE001 - a failed phase is reported, the others still run
        result.end()
        if deadline.expired():
            result.timed_out = True
            result.first_error = f"{name}: hard stop after {timeout:g}s"
        else:
            result.errors += 1
            result.first_error = f"{name}: {describe(exc)}"
    return result


def describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"[:500]


def measure(url: str, headers: dict[str, str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    seq = asyncio.run(
        run_phase(
            "sequential", sequential, url, headers, ERAS[args.era], args.calls, args.warmup,
            timeout=args.phase_timeout,
        )
    )
    conc = asyncio.run(
        run_phase(
            "concurrent", concurrent, url, headers, ERAS[args.era], args.calls, args.concurrency, args.warmup,
            timeout=args.phase_timeout,
        )
    )
    return {"sequential": seq.summary(), "concurrent": conc.summary()}


# --------------------------------------------------------------------------------------------------- reporting


def ratio(through: dict[str, Any], direct: dict[str, Any], key: str) -> float | None:
    if key in through and direct.get(key):
        return round(through[key] / direct[key], 2)
    return None


def ratios(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float | None]]:
    direct = results["direct"]
    out = {}
    for path, phases in results.items():
        if path == "direct":
            continue
        out[path] = {
            "p50_sequential": ratio(phases["sequential"], direct["sequential"], "p50_ms"),
            "p50_concurrent": ratio(phases["concurrent"], direct["concurrent"], "p50_ms"),
            "calls_per_s_sequential": ratio(phases["sequential"], direct["sequential"], "calls_per_s"),
            "calls_per_s_concurrent": ratio(phases["concurrent"], direct["concurrent"], "calls_per_s"),
        }
    return out


def fmt(value: Any, width: int, digits: int = 2) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:.{digits}f}".rjust(width)
    return str(value).rjust(width)


def print_report(report: dict[str, Any]) -> None:
    meta = report["meta"]
    print()
    print(f"Gatehouse benchmark  {meta['timestamp']}  ({meta['cpus']} CPUs shared by client, gateway and upstream)")
    print(f"calls={meta['calls']} concurrency={meta['concurrency']} warmup={meta['warmup']}  tool={TOOL}{ARGUMENTS}")
    print(
        f"database={meta['database']} cache={meta['cache']} python={meta['python']} "
        f"loadavg(1m) before start={meta['loadavg_1m_before']}"
    )
    print(meta["note"])
    print()
    header = f"{'path':<16}{'phase':<12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'calls/s':>10}{'calls':>7}{'errors':>7}"
    print(header)
    print("-" * len(header))
    for path, phases in report["results"].items():
        for phase, s in phases.items():
            if phase == "gateway-only":
                continue
            row = f"{path:<16}{phase:<12}"
            row += fmt(s.get("p50_ms"), 9) + fmt(s.get("p95_ms"), 9) + fmt(s.get("p99_ms"), 9)
            row += fmt(s.get("calls_per_s"), 10, 1) + fmt(s.get("calls"), 7) + fmt(s.get("errors"), 7)
            print(row)
    for path, phases in report["results"].items():
        for phase, s in phases.items():
            if s.get("first_error"):
                print(f"  ! {path} {phase}: {s['first_error']}")
    print()
    print("Ratios through/direct (latency: lower is better; calls/s: higher is better)")
    rhead = f"{'path':<16}{'p50 seq':>9}{'p50 conc':>10}{'c/s seq':>9}{'c/s conc':>10}"
    print(rhead)
    print("-" * len(rhead))
    for path, r in report["ratios"].items():
        print(
            f"{path:<16}{fmt(r['p50_sequential'], 9)}{fmt(r['p50_concurrent'], 10)}"
            f"{fmt(r['calls_per_s_sequential'], 9)}{fmt(r['calls_per_s_concurrent'], 10)}"
        )
    capacities = {path: phases["gateway-only"] for path, phases in report["results"].items() if "gateway-only" in phases}
    if capacities:
        print()
        print(f"Gateway only: wrk, {WRK_CONNECTIONS} connections, {WRK_SECONDS} s of `ping` on one session "
              "(ASGI server + auth + session + JSON-RPC; no upstream, no Python client)")
        print(f"{'path':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
        for path, c in capacities.items():
            print(f"{path:<16}{fmt(c['requests_per_s'], 10, 0)}{fmt(c['p50_ms'], 9)}{fmt(c['p99_ms'], 9)}{fmt(c['non_2xx'], 9)}")
    print()
    for path, verdict in report["target"].items():
        print(f"Target sequential p50 through <= 2x direct, {path}: {verdict}")


def target_verdicts(rat: dict[str, dict[str, float | None]]) -> dict[str, str]:
    verdicts = {}
    for path, r in rat.items():
        value = r["p50_sequential"]
        if value is None:
            verdicts[path] = "UNKNOWN (no measurement)"
        else:
            verdicts[path] = f"{'MET' if value <= 2.0 else 'NOT MET'} ({value:.2f}x)"
    return verdicts


def write_json(report: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{report['meta']['timestamp'].replace(':', '')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------------- main


@contextmanager
def managed(procs: list[Proc], proc: Proc) -> Iterator[Proc]:
    """Stop ``proc`` when the block ends (the outer finally also stops anything left over)."""
    procs.append(proc)
    try:
        yield proc
    finally:
        stop_process(proc)


WRK_SECONDS = 5
WRK_CONNECTIONS = 16


def _wrk_percentile(output: str, label: str) -> float | None:
    """Milliseconds for a line like '     50%    1.23ms' of wrk --latency."""
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        return None
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def gateway_capacity(url: str, token: str, tmpdir: Path) -> dict[str, Any] | None:
    """wrk POSTs ``ping`` on one initialized session: the ASGI server plus Gatehouse's own per-request work
    (auth, session check, JSON-RPC), without the Python load client or the upstream in the way."""
    if shutil.which("wrk") is None:
        return None
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wrk", "version": "1"}}}
    session_id = httpx2.post(url, json=initialize, headers=headers).headers["mcp-session-id"]
    script = tmpdir / "ping.lua"  # holds the token: lives in the temp dir only, removed at exit
    lua_headers = {**headers, "Content-Type": "application/json", "Mcp-Session-Id": session_id,
                   "MCP-Protocol-Version": "2025-11-25"}
    script.write_text(
        'wrk.method = "POST"\nwrk.body = \'{"jsonrpc":"2.0","id":1,"method":"ping"}\'\n'
        + "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in lua_headers.items())
    )
    completed = subprocess.run(
        ["wrk", "-t1", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, timeout=WRK_SECONDS + 30,
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", completed.stdout)
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", completed.stdout)
    return {
        "requests_per_s": float(rate.group(1)) if rate else None,
        "p50_ms": _wrk_percentile(completed.stdout, "50%"),
        "p99_ms": _wrk_percentile(completed.stdout, "99%"),
        "non_2xx": int(failures.group(1)) if failures else 0,
    }


def bench_gateway(kind: str, env: dict[str, str], token: str, tmpdir: Path, procs: list[Proc], args) -> dict:
    port = free_port()
    with managed(procs, start_process(kind, gateway_argv(kind, port), env, tmpdir)) as proc:
        wait_until(lambda: health_ok(port), proc, "GET /health = 200")
        print(f"[bench] measuring through {kind} (pid {proc.popen.pid}, port {port}) ...", flush=True)
        url = f"http://127.0.0.1:{port}/servers/{SERVER_SLUG}/mcp"
        result = measure(url, {"Authorization": f"Bearer {token}"}, args)
        capacity = gateway_capacity(url, token, tmpdir)
        if capacity is not None:
            result["gateway-only"] = capacity
        if proc.popen.poll() is not None:
            result["sequential"].setdefault("first_error", f"{kind} died:\n{proc.log_tail()}")
        return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="calls per phase (default 500)")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel client sessions (default 16)")
    parser.add_argument("--server", choices=["uvicorn", "daphne", "both"], default="uvicorn")
    parser.add_argument("--era", choices=sorted(ERAS), default="legacy",
                        help="protocol era of the client on both paths (default legacy: initialize handshake)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up calls before each phase (default 50)")
    parser.add_argument("--phase-timeout", type=float, default=120.0, help="hard stop per phase, seconds")
    args = parser.parse_args()
    if args.calls < 1 or args.concurrency < 1:
        parser.error("--calls and --concurrency must be positive")
    return args


def raise_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    args = parse_args()
    load_before = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (background)
    kinds = ["uvicorn", "daphne"] if args.server == "both" else [args.server]
    tmpdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    procs: list[Proc] = []
    try:
        upstream_port = free_port()
        upstream = start_process(
            "upstream",
            [sys.executable, "tests/fixtures/upstream_server.py", "--port", str(upstream_port)],
            dict(os.environ, PYTHONUNBUFFERED="1"),
            tmpdir,
        )
        procs.append(upstream)
        wait_until(lambda: accepts_tcp(upstream_port), upstream, "the upstream accepts TCP")
        print(f"[bench] upstream on port {upstream_port}; preparing Gatehouse in {tmpdir} ...", flush=True)
        env = gatehouse_env(tmpdir)
        token = prepare_gatehouse(env, upstream_port)

        results: dict[str, dict[str, dict[str, Any]]] = {}
        print("[bench] measuring direct ...", flush=True)
        results["direct"] = measure(f"http://127.0.0.1:{upstream_port}/mcp", {}, args)
        for kind in kinds:
            results[f"through-{kind}"] = bench_gateway(kind, env, token, tmpdir, procs, args)

        rat = ratios(results)
        report = {
            "meta": {
                "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "calls": args.calls,
                "concurrency": args.concurrency,
                "warmup": args.warmup,
                "cpus": os.cpu_count(),
                "loadavg_1m_before": round(load_before, 2),
                "cache": "redis" if os.environ.get("REDIS_URL") else "locmem",
                "python": platform.python_version(),
                "database": env["DATABASE_URL"].split(":", 1)[0],
                "client_mode": ERAS[args.era],
                "note": mode_note(args.era),
            },
            "results": results,
            "ratios": rat,
            "target": target_verdicts(rat),
        }
        print_report(report)
        print(f"\nJSON: {write_json(report).relative_to(REPO)}")
        return 0
    except KeyboardInterrupt:
        print("\n[bench] interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"[bench] failed: {exc}", file=sys.stderr)
        return 1
    except SystemExit:
        print("\n[bench] terminated", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
