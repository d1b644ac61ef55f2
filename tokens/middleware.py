"""Records a TokenUsage row for every REST API request made with a token (allowed or refused)."""
from __future__ import annotations

import time

from tokens.client import client_from_request
from tokens.models import TokenUsage
from tokens.services import token_usage_record


class TokenUsageMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        credential = getattr(request, "gatehouse_credential", None)
        refusal = getattr(request, "gatehouse_refusal", None)
        if credential is None and (refusal is None or (refusal.token_id is None and not refusal.jti)):
            return response
        client = client_from_request(request)
        if credential is not None:
            principal = credential.principal
            token_id, jti, user_id = principal.token_id, "" if principal.token_id else principal.jti, principal.user_id
            outcome = TokenUsage.Outcome.ALLOWED if response.status_code < 400 else TokenUsage.Outcome.BLOCKED
            if response.status_code >= 500:
                outcome = TokenUsage.Outcome.ERROR
            reason = "" if response.status_code < 400 else f"HTTP {response.status_code}"
        else:
            token_id, jti, user_id = refusal.token_id, refusal.jti, refusal.user_id
            outcome, reason = TokenUsage.Outcome.BLOCKED, refusal.reason
        token_usage_record(
            method=request.method, endpoint=request.path, outcome=outcome, token_id=token_id, jti=jti,
            user_id=user_id, ip=client.ip, user_agent=client.user_agent,
            latency_ms=int((time.perf_counter() - started) * 1000), reason=reason, status=response.status_code,
        )
        return response
