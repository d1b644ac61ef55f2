"""REST APIs as tools: what a tool definition may say, and how arguments become a request path.

Pure functions shared by the control plane (validating a definition) and the data plane (building a request).
A path template uses RFC 6570 simple expansion only (``/items/{id}``): each value is percent-encoded whole, so an
argument can never add a path segment, a query or a fragment, and the request stays under the upstream's URL.
"""
from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from catalog.passthrough import header_name_refusal

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")
MAX_TIMEOUT_SECONDS = 3600
_VARIABLE = re.compile(r"\{([A-Za-z0-9_]{1,128})\}")
# What a template may hold outside its variables: path characters, no query, fragment, backslash or dot segment.
_PATH_TEXT = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")


class RestDefinitionError(ValueError):
    pass


class RestArgumentError(ValueError):
    """Arguments that cannot be turned into the request; the message is safe to show the caller."""


def path_variables(path: str) -> list[str]:
    return _VARIABLE.findall(path)


def definition_clean(
    *,
    method: str,
    path: str,
    query: list[str] | None,
    headers: dict[str, str] | None,
    body_argument: str,
    input_schema: dict[str, Any] | None,
    timeout_seconds: int | None,
) -> dict[str, Any]:
    """Check a REST tool definition; returns the normalised fields (input_schema as JSON text). Raises
    RestDefinitionError naming the first problem."""
    method = (method or "").upper()
    if method not in METHODS:
        raise RestDefinitionError(f"The method must be one of {', '.join(METHODS)}.")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > 2048:
        raise RestDefinitionError("The path must start with '/' (at most 2048 characters).")
    literal = _VARIABLE.sub("", path)
    if "{" in literal or "}" in literal or not _PATH_TEXT.match(literal):
        raise RestDefinitionError(
            "The path may hold only path characters and {name} variables (no query, fragment or other template forms)."
        )
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise RestDefinitionError("The path may not hold '.' or '..' segments.")
    variables = path_variables(path)
    schema = {"type": "object"} if input_schema is None else input_schema
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise RestDefinitionError("The input schema must be a JSON Schema object with \"type\": \"object\".")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise RestDefinitionError(f"The input schema is not valid JSON Schema: {exc.message}") from None
    properties = schema.get("properties") or {}
    query = list(query or [])
    headers = dict(headers or {})
    used: list[str] = variables + query + list(headers)
    for argument in used + ([body_argument] if body_argument else []):
        if not isinstance(argument, str) or argument not in properties:
            raise RestDefinitionError(f"The argument {argument!r} is not a property of the input schema.")
    if len(set(used)) != len(used):
        raise RestDefinitionError("An argument may be mapped to one place only (path, query or header).")
    for argument, header in headers.items():
        refusal = header_name_refusal(header)
        if refusal:
            raise RestDefinitionError(refusal)
    if body_argument and (method not in BODY_METHODS or body_argument in used):
        raise RestDefinitionError("A body argument needs POST, PUT or PATCH and may not be mapped elsewhere.")
    if timeout_seconds is not None and not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise RestDefinitionError(f"The timeout must be between 1 and {MAX_TIMEOUT_SECONDS} seconds.")
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "body_argument": body_argument or "",
        "input_schema": json.dumps(schema),
        "timeout_seconds": timeout_seconds,
    }


def scalar_text(name: str, value: Any) -> str:
    """How an argument value is written in a path, query or header: strings as they are, numbers and booleans as
    JSON writes them; anything else is refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return value if isinstance(value, str) else json.dumps(value)
    raise RestArgumentError(f"The argument '{name}' must be a string, number or boolean here.")


def path_expand(path: str, arguments: dict[str, Any]) -> str:
    """``/items/{id}`` with ``{"id": "a/b"}`` → ``/items/a%2Fb``. A missing variable, or a value that would be a
    dot segment, is refused."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in arguments:
            raise RestArgumentError(f"The argument '{name}' is required (it is part of the path).")
        text = scalar_text(name, arguments[name])
        if text in ("", ".", ".."):
            raise RestArgumentError(f"The argument '{name}' may not be empty, '.' or '..'.")
        return quote(text, safe="")

    return _VARIABLE.sub(replace, path)


def schema_object(text: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except ValueError:
        raise RestDefinitionError("The stored input schema is not JSON.") from None
    if not isinstance(schema, dict):
        raise RestDefinitionError("The stored input schema is not a JSON object.")
    return schema
