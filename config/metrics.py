"""Prometheus metrics. Counters and histograms are recorded on the data plane (proxy.protocol.handlers for MCP
requests, proxy.upstream.pool for upstream calls); gauges are computed at scrape time (config.metrics_view).

Several processes: set the PROMETHEUS_MULTIPROC_DIR environment variable to an empty directory shared by every
process of one host (wiped at deploy) and /metrics sums them (prometheus_client's multiprocess mode). Without it each
process counts its own calls and /metrics reports the process that answers the scrape.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

# Latency buckets for calls that cross the network to an upstream: 5 ms to 60 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

MCP_REQUESTS = Counter(
    "gatehouse_mcp_requests", "MCP requests answered, per virtual server, method and tool.", ["server", "method", "tool"]
)
MCP_ERRORS = Counter(
    "gatehouse_mcp_errors", "MCP requests answered with a JSON-RPC error.", ["server", "method", "tool", "code"]
)
MCP_LATENCY = Histogram(
    "gatehouse_mcp_request_duration_seconds", "Time to answer an MCP request.", ["server", "method", "tool"],
    buckets=BUCKETS,
)
UPSTREAM_REQUESTS = Counter("gatehouse_upstream_requests", "Calls made to an upstream.", ["upstream"])
UPSTREAM_ERRORS = Counter("gatehouse_upstream_errors", "Upstream calls that failed.", ["upstream", "code"])
UPSTREAM_LATENCY = Histogram(
    "gatehouse_upstream_request_duration_seconds", "Time an upstream took to answer.", ["upstream"], buckets=BUCKETS
)


# Handshake-era sessions are signed tokens with no server-side state, so "active" means: made a request to this
# process within the window. session nonce → (server, last seen).
ACTIVE_WINDOW_SECONDS = 300
_MAX_TRACKED = 100_000
_sessions_seen: dict[str, tuple[str, float]] = {}


def _session_seen(nonce: str, server: str, now: float) -> None:
    if len(_sessions_seen) >= _MAX_TRACKED and nonce not in _sessions_seen:
        active_sessions()  # prunes the expired ones
        if len(_sessions_seen) >= _MAX_TRACKED:
            return
    _sessions_seen[nonce] = (server, now)


def active_sessions() -> dict[str, int]:
    """Sessions per virtual server that made a request to this process within ACTIVE_WINDOW_SECONDS."""
    horizon = time.monotonic() - ACTIVE_WINDOW_SECONDS
    counts: dict[str, int] = {}
    for nonce, (server, seen) in list(_sessions_seen.items()):
        if seen < horizon:
            _sessions_seen.pop(nonce, None)
        else:
            counts[server] = counts.get(server, 0) + 1
    return counts


@contextmanager
def mcp_request_observed(server: str, method: str, tool: str, session=None) -> Iterator[None]:
    """Count and time one MCP request; a JSON-RPC error (anything with ``code``) is counted by its code."""
    if session is not None:
        _session_seen(session.nonce, server, time.monotonic())
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        MCP_ERRORS.labels(server, method, tool, str(getattr(exc, "code", "internal"))).inc()
        raise
    finally:
        MCP_REQUESTS.labels(server, method, tool).inc()
        MCP_LATENCY.labels(server, method, tool).observe(time.perf_counter() - started)


@contextmanager
def upstream_call_observed(upstream: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        UPSTREAM_ERRORS.labels(upstream, str(getattr(exc, "code", "internal"))).inc()
        raise
    finally:
        UPSTREAM_REQUESTS.labels(upstream).inc()
        UPSTREAM_LATENCY.labels(upstream).observe(time.perf_counter() - started)
