from __future__ import annotations


class UpstreamError(Exception):
    """A failure reaching or using an upstream; the message names the upstream and is safe to show a client."""

    code = -32000

    def __init__(self, message: str, *, code: int | None = None, data: object = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.data = data


class UpstreamUnavailable(UpstreamError):
    code = -32000


class UpstreamTimeout(UpstreamError):
    code = -32001
