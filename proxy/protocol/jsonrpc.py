"""JSON-RPC 2.0 framing for MCP: parsing, validation and the error codes Gatehouse answers with."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from config.jsonlimits import JsonTooComplex, json_check_limits

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSUPPORTED_PROTOCOL_VERSION = -32022

RequestId = str | int


class JsonRpcError(Exception):
    """An error answered to the client. ``http_status`` is used where the transport has one."""

    def __init__(self, code: int, message: str, *, data: Any = None, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed client message: a request (has id and method), a notification (method only) or a response."""

    id: RequestId | None
    method: str | None
    params: dict[str, Any]
    # A response's whole body (its ``result`` or ``error``), for routing it to the request it answers.
    response: dict[str, Any] | None = None

    @property
    def is_response(self) -> bool:
        return self.response is not None

    @property
    def is_request(self) -> bool:
        return self.method is not None and self.id is not None

    @property
    def is_notification(self) -> bool:
        return self.method is not None and self.id is None


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _finite(text: str) -> float:
    # NaN, Infinity and overflowing numbers (1e400) are not JSON: echoed back they would make the reply invalid JSON.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON")


def parse_message(body: bytes) -> Message:
    try:
        data = json.loads(body, parse_float=_finite, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise JsonRpcError(PARSE_ERROR, "Parse error: the body is not valid JSON.", http_status=400) from None
    try:
        json_check_limits(data)
    except JsonTooComplex as exc:
        raise JsonRpcError(INVALID_REQUEST, f"Invalid request: {exc}", http_status=400) from None
    if isinstance(data, list):
        raise JsonRpcError(INVALID_REQUEST, "Batched JSON-RPC messages are not supported.", http_status=400)
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        raise JsonRpcError(INVALID_REQUEST, "Invalid request: expected a JSON-RPC 2.0 object.", http_status=400)
    if "method" in data:
        method = data["method"]
        if not isinstance(method, str) or not method:
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: 'method' must be a non-empty string.", http_status=400)
        if "id" in data and not _valid_id(data["id"]):
            raise JsonRpcError(INVALID_REQUEST, "Invalid request: 'id' must be a string or an integer.", http_status=400)
        params = data.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise JsonRpcError(INVALID_PARAMS, "Invalid params: 'params' must be an object.", http_status=400)
        return Message(id=data.get("id"), method=method, params=params)
    if "result" in data or "error" in data:
        return Message(id=data.get("id"), method=None, params={}, response=data)
    raise JsonRpcError(INVALID_REQUEST, "Invalid request: neither a request nor a response.", http_status=400)


def result_message(request_id: RequestId, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(request_id: RequestId | None, error: JsonRpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.as_error()}


def cancelled_request_id(message: Message) -> RequestId | None:
    """The request a ``notifications/cancelled`` message gives up on, if this is one."""
    if message.method != "notifications/cancelled":
        return None
    request_id = message.params.get("requestId")
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        return None
    return request_id
