"""Per-tool statistics (calls, error rate, p50/p95/p99) read back from the Prometheus metrics, for the admin.

Since this process started, or across every process sharing PROMETHEUS_MULTIPROC_DIR; percentiles are estimated
from the latency histogram's buckets (linear within a bucket, as Prometheus' histogram_quantile does).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True)
class ToolStatistics:
    server: str
    tool: str
    calls: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """histogram_quantile over cumulative (upper bound, count) pairs."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the largest finite bucket: its bound is the best estimate
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return None


def tool_statistics(registry) -> list[ToolStatistics]:
    calls: dict[tuple[str, str], float] = defaultdict(float)
    errors: dict[tuple[str, str], float] = defaultdict(float)
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if labels.get("method") != "tools/call" or not labels.get("tool"):
                continue
            key = (labels["server"], labels["tool"])
            if sample.name == "gatehouse_mcp_requests_total":
                calls[key] += sample.value
            elif sample.name == "gatehouse_mcp_errors_total":
                errors[key] += sample.value
            elif sample.name == "gatehouse_mcp_request_duration_seconds_bucket":
                buckets[key].append((float(labels["le"]), sample.value))
    return [
        ToolStatistics(
            server, tool, int(count), int(errors.get((server, tool), 0)),
            *(_quantile(q, buckets.get((server, tool), [])) for q in (0.5, 0.95, 0.99)),
        )
        for (server, tool), count in sorted(calls.items())
    ]
