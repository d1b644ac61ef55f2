from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
from channels.testing import HttpCommunicator

from config.logging_json import JsonFormatter
from config.request_id import (
    RequestIdFilter,
    request_id,
    task_prerun_set_request_id,
    task_publish_add_request_id,
)
from proxy.tests.conftest import Gateway, catalog, closed_pool  # noqa: F401 - fixtures


async def _get(path: str, **headers: str) -> dict:
    from config.asgi import application

    raw = [(b"host", b"127.0.0.1:8000"), *[(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]]
    response = await HttpCommunicator(application, "GET", path, headers=raw).get_response(timeout=10)
    return {name.decode(): value.decode() for name, value in response["headers"]}


async def test_a_valid_incoming_request_id_is_echoed():
    assert (await _get("/health", x_request_id="edge-42.a_b"))["x-request-id"] == "edge-42.a_b"


async def test_a_missing_or_hostile_request_id_is_replaced():
    generated = (await _get("/health"))["x-request-id"]
    assert len(generated) == 32 and generated.isalnum()
    hostile = (await _get("/health", x_request_id="a b\\r\\nSet-Cookie: x"))["x-request-id"]
    assert hostile != "a b\\r\\nSet-Cookie: x" and len(hostile) == 32


@pytest.mark.django_db(transaction=True)
async def test_mcp_responses_carry_the_request_id(catalog, closed_pool):
    gateway = Gateway("/servers/demo/mcp", catalog["token"])
    response = await gateway.send(gateway.request("ping"), x_request_id="mcp-call-1")
    assert response["headers"]["x-request-id"] == "mcp-call-1"


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord("gatehouse", logging.WARNING, __file__, 1, "upstream %s down", ("weather",), None)
    token = request_id.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "upstream weather down" and line["request_id"] == "req-7" and line["level"] == "WARNING"


def test_tasks_inherit_the_request_id_of_the_request_that_enqueued_them():
    headers: dict = {}
    token = request_id.set("req-9")
    try:
        task_publish_add_request_id(headers=headers)
    finally:
        request_id.reset(token)
    assert headers == {"gatehouse_request_id": "req-9"}
    task_prerun_set_request_id(task=SimpleNamespace(request=SimpleNamespace(gatehouse_request_id="req-9")))
    assert request_id.get() == "req-9"
    task_prerun_set_request_id(task=SimpleNamespace(request=SimpleNamespace()))
    assert len(request_id.get()) == 32
