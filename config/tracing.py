"""OpenTelemetry tracing, on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set.

Off, nothing is imported beyond the API the MCP SDK already uses, and the data plane pays one module-level flag check
per request (``ENABLED``). On, spans go in batches to the OTLP/HTTP endpoint; the exporter, the batch processor and
the resource read the standard ``OTEL_*`` variables themselves (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``...), so an operator configures Gatehouse like any other service.

Celery: the publishing side puts the current trace context (W3C ``traceparent``) in the task's message headers, and
a worker's task run becomes a span continuing that trace.
"""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

logger = logging.getLogger(__name__)

SERVICE_NAME = "gatehouse"
# Read on the hot path: a plain module global, set once by tracing_setup().
ENABLED = False
_tracer: trace.Tracer | None = None
# Task id → (span, context token) between task_prerun and task_postrun.
_task_spans: dict[str, tuple[Any, object]] = {}


def tracing_setup() -> bool:
    """Install the tracer provider and OTLP exporter when tracing is configured; True when it is on. Called once per
    process by the ASGI application and the Celery app."""
    global ENABLED, _tracer
    if ENABLED or not settings.OTEL_TRACING_ENABLED:
        return ENABLED
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME_KEY, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME_KEY: SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    # Batched, in a background thread: exporting never blocks a request.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("gatehouse")
    ENABLED = True
    logger.info("OpenTelemetry tracing is on (service %s)", resource.attributes.get(SERVICE_NAME_KEY))
    return True


def tracer() -> trace.Tracer:
    return _tracer or trace.get_tracer("gatehouse")


# ---- Celery: the trace travels in the task's message headers ---------------------------------------------------------


def task_publish_inject_trace(headers: dict | None = None, **kwargs) -> None:
    """celery before_task_publish: the current trace context (the request that enqueues) goes with the task."""
    if headers is not None:
        propagate.inject(headers)


def task_prerun_start_span(task_id: str | None = None, task=None, **kwargs) -> None:
    """celery task_prerun: the task run is a span under the publisher's trace (message headers become attributes
    of ``task.request``); run eagerly, it nests under whatever is current."""
    if not ENABLED or task is None or task_id is None:
        return
    carrier = {}
    for key in ("traceparent", "tracestate"):
        if isinstance(value := getattr(task.request, key, None), str):
            carrier[key] = value
    parent = propagate.extract(carrier) if carrier else None
    span = tracer().start_span(
        f"run {task.name}", context=parent, kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.system": "celery", "messaging.operation.type": "process", "celery.task_name": task.name,
                    "messaging.message.id": task_id},
    )
    _task_spans[task_id] = (span, otel_context.attach(trace.set_span_in_context(span)))


def task_postrun_end_span(task_id: str | None = None, state: str | None = None, **kwargs) -> None:
    entry = _task_spans.pop(task_id, None) if task_id is not None else None
    if entry is None:
        return
    span, token = entry
    if state and state != "SUCCESS":
        span.set_attribute("error.type", state)
        span.set_status(trace.StatusCode.ERROR)
    span.end()
    otel_context.detach(token)
