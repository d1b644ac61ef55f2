"""DNS-rebinding protection shared by every MCP transport: the Host, and the Origin when sent, must name this
gateway (one of settings.ALLOWED_HOSTS)."""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host


def host_allowed(value: str) -> bool:
    domain, _ = split_domain_port(value)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def origin_allowed(headers: Mapping[str, str]) -> bool:
    """Whether a request with these (lower-cased) headers may reach an MCP endpoint."""
    if not host_allowed(headers.get("host", "")):
        return False
    return "origin" not in headers or host_allowed(urlsplit(headers["origin"]).netloc)
