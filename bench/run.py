"""Gatehouse latency/throughput benchmark: the same MCP client calls `echo` directly and through the gateway.

Run from the repository root with the venv active:

    python bench/run.py [--transport json|sse|legacy-sse|websocket|all] [--binding pooled|per-client-session|both] ...

Everything runs on loopback: the fixture upstream, Gatehouse (production settings, temporary database) and the load
client (this process). See bench/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import functools
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx2

import callers

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS_DIR = REPO / "bench" / "results"
SERVER_SLUG = "bench"
BOUND_SLUG = "bench-bound"  # the same upstream registered again with --binding per-client-session
SSE_SLUG = "bench-sse"  # the legacy HTTP+SSE fixture upstream, for legacy SSE end to end
TOOL = callers.TOOL
ARGUMENTS = callers.ARGUMENTS
ERAS = {"legacy": "legacy", "modern": "2026-07-28"}  # --era → the SDK client's mode
TRANSPORTS = ["json", "sse", "legacy-sse", "websocket"]
BINDINGS = ["pooled", "per-client-session"]
FRESH_SESSIONS = 40  # sessions opened one after another to time their first and second call


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
        GATEHOUSE_EGRESS_ALLOW="127.0.0.1/32",  # the fixture upstreams listen on loopback
        GATEHOUSE_PUBLIC_URL="http://127.0.0.1",
        # The per-token limit (600/m by default) would stop a run within seconds; a high limit keeps its cost in
        # every request without throttling.
        GATEHOUSE_MCP_RATE_LIMIT="1000000/m",
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


def prepare_gatehouse(
    env: dict[str, str], upstream_port: int, *, bound: bool, sse_port: int | None, capture: bool = False
) -> str:
    """Migrate, register the upstream, compose the server and return a bearer token for it. With ``bound`` the same
    upstream is registered a second time with per-client-session binding, behind a second server; with ``sse_port``
    the legacy HTTP+SSE upstream is registered behind a third."""
    url = f"http://127.0.0.1:{upstream_port}/mcp"
    # --skip-checks: a throwaway database, and on some revisions the database-backed posture checks queried tables
    # that a fresh database does not have yet.
    manage(env, "migrate", "-v0", "--skip-checks")
    manage(env, "add_upstream", "--name", "bench", "--url", url)
    manage(env, "create_server", "--slug", SERVER_SLUG, "--upstream", "bench", "--no-prefix",
           *(["--capture-traffic"] if capture else []))
    servers = ["--server", SERVER_SLUG]
    if bound:
        manage(env, "add_upstream", "--name", BOUND_SLUG, "--url", url, "--binding", "per-client-session")
        manage(env, "create_server", "--slug", BOUND_SLUG, "--upstream", BOUND_SLUG, "--no-prefix")
        servers += ["--server", BOUND_SLUG]
    if sse_port is not None:
        manage(env, "add_upstream", "--name", SSE_SLUG, "--url", f"http://127.0.0.1:{sse_port}/sse",
               "--transport", "sse")
        manage(env, "create_server", "--slug", SSE_SLUG, "--upstream", SSE_SLUG, "--no-prefix")
        servers += ["--server", SSE_SLUG]
    out = manage(
        env, "create_token", "--email", "bench@example.com", *servers, "--name", "bench", secret_output=True,
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
    rounds_p50_ms: list[float | None] = field(default_factory=list)  # with --rounds: each round's p50
    # CPU time the gateway process spent during the measured calls (through paths, sequential phase): unlike
    # latency it barely moves with other load on the machine, so it compares builds on a busy machine.
    gateway_cpu_s: float | None = None

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

    def merge(self, other: PhaseResult) -> None:
        """Add another round of the same phase: latencies pooled, calls/s over the summed wall time."""
        self.rounds_p50_ms.append(other.p50())
        self.calls += other.calls
        self.errors += other.errors
        self.wall_s += other.wall_s
        self.latencies_ms.extend(other.latencies_ms)
        self.first_error = self.first_error or other.first_error
        self.timed_out = self.timed_out or other.timed_out
        if other.gateway_cpu_s is not None:
            self.gateway_cpu_s = (self.gateway_cpu_s or 0.0) + other.gateway_cpu_s

    def p50(self) -> float | None:
        return round(statistics.median(self.latencies_ms), 3) if self.latencies_ms else None

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "calls": self.calls, "errors": self.errors, "wall_s": round(self.wall_s, 3), "timed_out": self.timed_out,
        }
        if self.first_error:
            data["first_error"] = self.first_error
        if len(self.latencies_ms) >= 2:
            cuts = statistics.quantiles(self.latencies_ms, n=100, method="inclusive")
            data.update(p50_ms=round(cuts[49], 3), p95_ms=round(cuts[94], 3), p99_ms=round(cuts[98], 3))
        if len(self.rounds_p50_ms) > 1:
            data["p50_ms_per_round"] = self.rounds_p50_ms
        if self.wall_s > 0:
            data["calls_per_s"] = round(self.calls / self.wall_s, 1)
        if self.gateway_cpu_s is not None and self.calls:
            data["gateway_cpu_ms_per_call"] = round(self.gateway_cpu_s * 1000 / self.calls, 3)
        return data


@dataclass(frozen=True)
class Target:
    """One path to measure: a transport's opener and URL, the era, and the label of the direct path it is compared to."""

    label: str
    opener: Callable[..., Any]
    url: str
    headers: dict[str, str]
    mode: str
    reference: str | None = None  # None: this is a direct path
    pooled: str | None = None  # a per-client-session path: the label of the same path through the pooled upstream
    fresh_sessions: bool = False  # also time the first and second call of freshly opened sessions


async def timed_call(caller: callers.Caller, result: PhaseResult) -> None:
    started = time.perf_counter()
    try:
        error = await caller.call()
    except Exception as exc:  # noqa: BLE001 - every failure is counted and the first one reported
        error = f"{type(exc).__name__}: {exc}"[:500]
    result.record(started, error)


async def warm_up(caller: callers.Caller, calls: int) -> None:
    for _ in range(calls):
        error = await caller.call()
        if error is not None:
            raise RuntimeError(f"warm-up call failed: {error}")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Gateway process ids by server kind, filled in once they serve; a through path's label names its kind.
GATEWAY_PIDS: dict[str, int] = {}


def gateway_pid(target: Target) -> int | None:
    kind = target.label.split("through-", 1)[1].split()[0] if target.reference and "through-" in target.label else None
    return GATEWAY_PIDS.get(kind) if kind else None


async def sequential(result: PhaseResult, target: Target, calls: int, warmup: int) -> None:
    pid = gateway_pid(target)
    async with target.opener(target.url, target.headers, target.mode) as caller:
        await warm_up(caller, warmup)
        cpu_before = process_cpu_seconds(pid) if pid else None
        result.begin()
        for _ in range(calls):
            await timed_call(caller, result)
        result.end()
        cpu_after = process_cpu_seconds(pid) if pid else None
        if cpu_before is not None and cpu_after is not None:
            result.gateway_cpu_s = cpu_after - cpu_before


async def concurrent(result: PhaseResult, target: Target, calls: int, clients: int, warmup: int) -> None:
    """``clients`` sessions, each warmed up, then all released together to share ``calls`` calls between them."""
    clients = min(clients, calls)
    shares = [calls // clients + (1 if index < calls % clients else 0) for index in range(clients)]
    ready = 0
    go = asyncio.Event()

    async def worker(share: int) -> None:
        nonlocal ready
        async with target.opener(target.url, target.headers, target.mode) as caller:
            await warm_up(caller, max(1, warmup // clients))
            ready += 1
            if ready == clients:
                result.begin()
                go.set()
            await go.wait()
            for _ in range(share):
                await timed_call(caller, result)

    async with asyncio.TaskGroup() as group:  # one failing session cancels the others
        for share in shares:
            group.create_task(worker(share))
    result.end()


async def fresh_sessions(first: PhaseResult, second: PhaseResult, target: Target, sessions: int) -> None:
    """Open ``sessions`` sessions one after another and time their first and second call. Through a
    per-client-session upstream the first call opens the upstream session; a pooled one is already open."""
    first.begin()
    second.begin()
    for _ in range(sessions):
        async with target.opener(target.url, target.headers, target.mode) as caller:
            await timed_call(caller, first)
            await timed_call(caller, second)
    first.end()
    second.end()


async def run_phase(name: str, phase, *args: Any, timeout: float, results: int = 1) -> list[PhaseResult]:
    """Run a phase under a hard deadline; on timeout or failure the calls made so far are kept and flagged."""
    outcome = [PhaseResult() for _ in range(results)]
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            await phase(*outcome, *args)
    except Exception as exc:  # noqa: BLE001 - a failed phase is reported, the others still run
        for result in outcome:
            result.end()
        if deadline.expired():
            outcome[0].timed_out = True
            outcome[0].first_error = f"{name}: hard stop after {timeout:g}s"
        else:
            outcome[0].errors += 1
            outcome[0].first_error = f"{name}: {describe(exc)}"
    return outcome


def describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"[:500]


def measure(target: Target, args: argparse.Namespace, round_: int) -> dict[str, PhaseResult]:
    print(f"[bench]   round {round_ + 1}/{args.rounds}: {target.label}", flush=True)
    [seq] = asyncio.run(
        run_phase("sequential", sequential, target, args.calls, args.warmup, timeout=args.phase_timeout)
    )
    phases = {"sequential": seq}
    if args.concurrency > 0:
        [phases["concurrent"]] = asyncio.run(
            run_phase(
                "concurrent", concurrent, target, args.calls, args.concurrency, args.warmup,
                timeout=args.phase_timeout,
            )
        )
    if target.fresh_sessions:
        phases["first-call"], phases["second-call"] = asyncio.run(
            run_phase("fresh sessions", fresh_sessions, target, min(FRESH_SESSIONS, args.calls),
                      timeout=args.phase_timeout, results=2)
        )
    return phases


# --------------------------------------------------------------------------------------------------- reporting


def ratio(through: dict[str, Any], direct: dict[str, Any], key: str) -> float | None:
    if key in through and direct.get(key):
        return round(through[key] / direct[key], 2)
    return None


def round_median_ratio(through: dict[str, Any], direct: dict[str, Any]) -> float | None:
    """With --rounds: the median over rounds of through/direct p50, each pair measured back to back (less exposed
    to load that changes between rounds than the ratio of pooled latencies)."""
    pairs = zip(through.get("p50_ms_per_round", []), direct.get("p50_ms_per_round", []))
    values = [mine / theirs for mine, theirs in pairs if mine and theirs]
    return round(statistics.median(values), 2) if values else None


def ratios(results: dict[str, dict[str, dict[str, Any]]], targets: list[Target]) -> dict[str, dict[str, float | None]]:
    """Each gateway path against its direct reference; a per-client-session path also against its pooled twin."""
    out = {}
    for target in targets:
        if target.reference is None or target.label not in results:
            continue
        phases, direct = results[target.label], results[target.reference]
        out[target.label] = {
            "reference": target.reference,
            "p50_sequential": ratio(phases["sequential"], direct["sequential"], "p50_ms"),
            "p50_sequential_round_median": round_median_ratio(phases["sequential"], direct["sequential"]),
            "p50_concurrent": ratio(phases.get("concurrent", {}), direct.get("concurrent", {}), "p50_ms"),
            "calls_per_s_sequential": ratio(phases["sequential"], direct["sequential"], "calls_per_s"),
            "calls_per_s_concurrent": ratio(
                phases.get("concurrent", {}), direct.get("concurrent", {}), "calls_per_s"
            ),
        }
        if target.pooled is not None and target.pooled in results:
            pooled = results[target.pooled]
            out[target.label]["vs_pooled"] = {
                "pooled": target.pooled,
                "p50_sequential": ratio(phases["sequential"], pooled["sequential"], "p50_ms"),
                "p50_first_call": ratio(phases.get("first-call", {}), pooled.get("first-call", {}), "p50_ms"),
                "p50_second_call": ratio(phases.get("second-call", {}), pooled.get("second-call", {}), "p50_ms"),
            }
    return out


def fmt(value: Any, width: int, digits: int = 2) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:.{digits}f}".rjust(width)
    return str(value).rjust(width)


LABEL_WIDTH = 42


def print_report(report: dict[str, Any]) -> None:
    meta = report["meta"]
    print()
    print(f"Gatehouse benchmark  {meta['timestamp']}  ({meta['cpus']} CPUs shared by client, gateway and upstream)")
    print(f"rounds={meta['rounds']} calls={meta['calls']} (per round) concurrency={meta['concurrency']} warmup={meta['warmup']}  tool={TOOL}{ARGUMENTS}")
    print(
        f"database={meta['database']} cache={meta['cache']} python={meta['python']} "
        f"loadavg(1m) before start={meta['loadavg_1m_before']} after={meta['loadavg_1m_after']}"
    )
    print(meta["note"])
    print()
    header = (f"{'path':<{LABEL_WIDTH}}{'phase':<12}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'calls/s':>10}"
              f"{'calls':>7}{'errors':>7}{'gw cpu ms/call':>16}")
    print(header)
    print("-" * len(header))
    for path, phases in report["results"].items():
        for phase, s in phases.items():
            if phase == "gateway-only":
                continue
            row = f"{path:<{LABEL_WIDTH}}{phase:<12}"
            row += fmt(s.get("p50_ms"), 9) + fmt(s.get("p95_ms"), 9) + fmt(s.get("p99_ms"), 9)
            row += fmt(s.get("calls_per_s") if phase in ("sequential", "concurrent") else None, 10, 1)
            row += fmt(s.get("calls"), 7) + fmt(s.get("errors"), 7) + fmt(s.get("gateway_cpu_ms_per_call"), 16)
            print(row)
    for path, phases in report["results"].items():
        for phase, s in phases.items():
            if s.get("first_error"):
                print(f"  ! {path} {phase}: {s['first_error']}")
    print()
    print("Ratios through/direct (latency: lower is better; calls/s: higher is better; "
          "rounds~ = median of the per-round p50 ratios)")
    rhead = (f"{'path':<{LABEL_WIDTH}}{'p50 seq':>9}{'rounds~':>9}{'p50 conc':>10}{'c/s seq':>9}{'c/s conc':>10}"
             "  direct reference")
    print(rhead)
    print("-" * len(rhead))
    for path, r in report["ratios"].items():
        print(
            f"{path:<{LABEL_WIDTH}}{fmt(r['p50_sequential'], 9)}{fmt(r['p50_sequential_round_median'], 9)}"
            f"{fmt(r['p50_concurrent'], 10)}"
            f"{fmt(r['calls_per_s_sequential'], 9)}{fmt(r['calls_per_s_concurrent'], 10)}  {r['reference']}"
        )
    bound = {path: r["vs_pooled"] for path, r in report["ratios"].items() if "vs_pooled" in r}
    if bound:
        print()
        print("Per-client-session binding against pooled (p50 ratios; first call = first call of a fresh session)")
        print(f"{'path':<{LABEL_WIDTH}}{'seq':>9}{'1st call':>10}{'2nd call':>10}")
        for path, r in bound.items():
            print(f"{path:<{LABEL_WIDTH}}{fmt(r['p50_sequential'], 9)}{fmt(r['p50_first_call'], 10)}"
                  f"{fmt(r['p50_second_call'], 10)}")
    capacities = {path: phases["gateway-only"] for path, phases in report["results"].items() if "gateway-only" in phases}
    if capacities:
        print()
        print(f"Gateway only: wrk, {WRK_CONNECTIONS} connections, {WRK_SECONDS} s of `ping` on one session "
              "(ASGI server + auth + session + JSON-RPC; no upstream, no Python client)")
        print(f"{'path':<{LABEL_WIDTH}}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
        for path, c in capacities.items():
            print(f"{path:<{LABEL_WIDTH}}{fmt(c['requests_per_s'], 10, 0)}{fmt(c['p50_ms'], 9)}"
                  f"{fmt(c['p99_ms'], 9)}{fmt(c['non_2xx'], 9)}")
    print()
    for path, verdict in report["target"].items():
        print(f"Target sequential p50 through <= 2x direct, {path}: {verdict}")


def target_verdicts(rat: dict[str, dict[str, Any]]) -> dict[str, str]:
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


def plan(args: argparse.Namespace, upstream_port: int, sse_port: int | None, gateways: dict[str, int],
         token: str) -> list[Target]:
    """The paths to measure, each direct path followed by the gateway paths compared to it (back to back, so a
    change of load on the machine hits both sides of a ratio alike)."""
    auth = {"Authorization": f"Bearer {token}"}
    direct_mcp = f"http://127.0.0.1:{upstream_port}/mcp"

    def gateway(kind: str, scheme: str, slug: str, endpoint: str) -> str:
        return f"{scheme}://127.0.0.1:{gateways[kind]}/servers/{slug}/{endpoint}"

    bound = args.binding in ("per-client-session", "both")
    pooled = args.binding in ("pooled", "both")
    eras = ["legacy", "modern"] if args.era == "both" else [args.era]
    if ("websocket" in args.transports or bound) and "legacy" not in eras:
        eras.insert(0, "legacy")  # their direct reference is the handshake-era Streamable HTTP JSON path
    targets: list[Target] = []
    if "json" in args.transports or "websocket" in args.transports or bound:
        for era in eras:
            label = f"json/{era}"
            handshake = era == "legacy"
            targets.append(Target(f"{label} direct", callers.streamable_json, direct_mcp, {}, ERAS[era],
                                  fresh_sessions=handshake and bound))
            for kind in gateways:
                through = f"{label} through-{kind}"
                if pooled or not handshake:
                    targets.append(Target(through, callers.streamable_json, gateway(kind, "http", SERVER_SLUG, "mcp"),
                                          auth, ERAS[era], f"{label} direct", fresh_sessions=handshake and bound))
                if bound and handshake:
                    targets.append(Target(
                        f"{through} bound", callers.streamable_json, gateway(kind, "http", BOUND_SLUG, "mcp"), auth,
                        ERAS[era], f"{label} direct", pooled=through if pooled else None, fresh_sessions=True,
                    ))
    if "sse" in args.transports:
        # The SDK upstream refuses a POST that does not also accept JSON, and answers SSE anyway; the gateway is
        # asked for SSE only, so it must stream. Both answers are checked to be text/event-stream.
        direct = functools.partial(callers.streamable_sse, accept=callers.BOTH)
        targets.append(Target("sse/legacy direct", direct, direct_mcp, {}, ERAS["legacy"]))
        through = functools.partial(callers.streamable_sse, accept=callers.EVENT_STREAM)
        for kind in gateways:
            targets.append(Target(f"sse/legacy through-{kind}", through, gateway(kind, "http", SERVER_SLUG, "mcp"),
                                  auth, ERAS["legacy"], "sse/legacy direct"))
    if "legacy-sse" in args.transports and sse_port is not None:
        targets.append(Target("legacy-sse direct", callers.legacy_sse, f"http://127.0.0.1:{sse_port}/sse", {},
                              ERAS["legacy"]))
        for kind in gateways:
            targets.append(Target(f"legacy-sse through-{kind}", callers.legacy_sse,
                                  gateway(kind, "http", SERVER_SLUG, "sse"), auth, ERAS["legacy"], "legacy-sse direct"))
            # The same, with Gatehouse reaching the upstream over legacy SSE too: like for like with the direct path.
            targets.append(Target(f"legacy-sse through-{kind} sse-upstream", callers.legacy_sse,
                                  gateway(kind, "http", SSE_SLUG, "sse"), auth, ERAS["legacy"], "legacy-sse direct"))
    if "websocket" in args.transports:
        for kind in gateways:  # the upstream has no WebSocket: compared against direct Streamable HTTP JSON
            targets.append(Target(f"websocket through-{kind}", callers.websocket,
                                  gateway(kind, "ws", SERVER_SLUG, "ws"), auth, ERAS["legacy"], "json/legacy direct"))
    return targets


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="calls per phase (default 500)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="parallel client sessions (default 16; 0 skips the concurrent phase)")
    parser.add_argument("--server", choices=["uvicorn", "daphne", "both"], default="uvicorn")
    parser.add_argument("--era", choices=[*sorted(ERAS), "both"], default="legacy",
                        help="protocol era of the Streamable HTTP JSON client on both paths (default legacy: "
                        "initialize handshake); the other transports are handshake-era only")
    parser.add_argument("--transport", choices=[*TRANSPORTS, "all"], action="append",
                        help="json (default), sse, legacy-sse, websocket or all; repeatable")
    parser.add_argument("--binding", choices=[*BINDINGS, "both"], default="pooled",
                        help="upstream session binding behind the handshake-era JSON path (default pooled); "
                        "per-client-session or both also time the first call of fresh sessions")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every path this many times, interleaved; latencies are pooled (default 1)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up calls before each phase (default 50)")
    parser.add_argument("--phase-timeout", type=float, default=120.0, help="hard stop per phase, seconds")
    parser.add_argument("--no-wrk", action="store_true", help="skip the gateway-only wrk phase")
    parser.add_argument("--capture-traffic", action="store_true",
                        help="turn traffic capture on for the 'bench' server (measures its cost)")
    args = parser.parse_args()
    if args.calls < 1 or args.rounds < 1 or args.concurrency < 0:
        parser.error("--calls and --rounds must be positive and --concurrency not negative")
    chosen = args.transport or ["json"]
    args.transports = TRANSPORTS if "all" in chosen else list(dict.fromkeys(chosen))
    return args


def raise_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def start_upstream(transport: str, tmpdir: Path, procs: list[Proc]) -> int:
    port = free_port()
    proc = start_process(
        f"upstream-{transport}",
        [sys.executable, "tests/fixtures/upstream_server.py", "--port", str(port), "--transport", transport],
        dict(os.environ, PYTHONUNBUFFERED="1"),
        tmpdir,
    )
    procs.append(proc)
    wait_until(lambda: accepts_tcp(port), proc, "the upstream accepts TCP")
    return port


def main() -> int:
    args = parse_args()
    load_before = os.getloadavg()[0]
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (background)
    kinds = ["uvicorn", "daphne"] if args.server == "both" else [args.server]
    tmpdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    procs: list[Proc] = []
    try:
        upstream_port = start_upstream("streamable-http", tmpdir, procs)
        sse_port = start_upstream("sse", tmpdir, procs) if "legacy-sse" in args.transports else None
        print(f"[bench] upstream on port {upstream_port}; preparing Gatehouse in {tmpdir} ...", flush=True)
        env = gatehouse_env(tmpdir)
        token = prepare_gatehouse(env, upstream_port, bound=args.binding != "pooled", sse_port=sse_port,
                                  capture=args.capture_traffic)

        gateways: dict[str, int] = {}
        gateway_procs: dict[str, Proc] = {}
        for kind in kinds:
            port = free_port()
            proc = start_process(kind, gateway_argv(kind, port), env, tmpdir)
            procs.append(proc)
            wait_until(lambda: health_ok(port), proc, "GET /health = 200")
            gateways[kind], gateway_procs[kind] = port, proc
            GATEWAY_PIDS[kind] = proc.popen.pid
            print(f"[bench] {kind} serving Gatehouse (pid {proc.popen.pid}, port {port})", flush=True)

        targets = plan(args, upstream_port, sse_port, gateways, token)
        measured: dict[str, dict[str, PhaseResult]] = {}
        print("[bench] measuring ...", flush=True)
        for round_ in range(args.rounds):  # rounds interleave the paths, so drifting load hits all of them
            for target in targets:
                for phase, result in measure(target, args, round_).items():
                    measured.setdefault(target.label, {}).setdefault(phase, PhaseResult()).merge(result)
        results: dict[str, dict[str, dict[str, Any]]] = {
            label: {phase: result.summary() for phase, result in phases.items()} for label, phases in measured.items()
        }
        if not args.no_wrk:
            for kind, port in gateways.items():
                capacity = gateway_capacity(f"http://127.0.0.1:{port}/servers/{SERVER_SLUG}/mcp", token, tmpdir)
                if capacity is not None:
                    results.setdefault(f"gateway-only through-{kind}", {})["gateway-only"] = capacity
        for kind, proc in gateway_procs.items():
            if proc.popen.poll() is not None:
                for label, phases in results.items():
                    if label.endswith(f"through-{kind}"):
                        phases["sequential"].setdefault("first_error", f"{kind} died:\n{proc.log_tail()}")

        rat = ratios(results, targets)
        report = {
            "meta": {
                "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "calls": args.calls,
                "concurrency": args.concurrency,
                "warmup": args.warmup,
                "rounds": args.rounds,
                "transports": args.transports,
                "binding": args.binding,
                "cpus": os.cpu_count(),
                "loadavg_1m_before": round(load_before, 2),
                "loadavg_1m_after": round(os.getloadavg()[0], 2),
                "cache": "redis" if os.environ.get("REDIS_URL") else "locmem",
                "python": platform.python_version(),
                "database": env["DATABASE_URL"].split(":", 1)[0],
                "note": NOTE,
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


NOTE = (
    "Each gateway path uses the same client code as its direct reference (json/<era>: the SDK client in that mode; "
    "sse: a raw client, the gateway asked for SSE only; legacy-sse: the SDK sse_client against an SSE upstream; "
    "websocket: a raw client, compared against json/legacy direct since the upstream has no WebSocket)."
)


if __name__ == "__main__":
    sys.exit(main())
