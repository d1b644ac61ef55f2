"""The browser side of the upstream OAuth vault, under the account area: a user's connections, connect (to the
upstream's authorization server and back), disconnect. Thin: catalog.oauth.services does the work."""
from __future__ import annotations

import time

from csp.decorators import csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.errors import CatalogError
from catalog.oauth.selectors import upstream_connectable_get, upstream_connectable_list, upstream_connections_of
from catalog.oauth.services import (
    PendingConnect,
    upstream_connect_begin,
    upstream_connect_finish,
    upstream_connection_delete,
)

SESSION_KEY = "upstream_oauth_pending"
# Connect attempts one session may have open at once (tabs); the oldest is forgotten beyond this.
MAX_PENDING = 5


def _callback_uri(request: HttpRequest) -> str:
    from django.conf import settings

    base = settings.GATEHOUSE_PUBLIC_URL.rstrip("/") or request.build_absolute_uri("/").rstrip("/")
    return f"{base}{reverse('upstream_oauth_callback')}"


@login_required
@require_GET
def connections(request: HttpRequest) -> HttpResponse:
    own = list(upstream_connections_of(user=request.user))
    connected = {connection.upstream_id for connection in own}
    available = [upstream for upstream in upstream_connectable_list(user=request.user) if upstream.pk not in connected]
    return render(request, "upstreams/connections.html", {"connections": own, "available": available})


# Browsers apply the page's CSP form-action to the redirect that follows the form's POST: this page's one form posts
# to itself and is then sent on to the upstream's authorization server, wherever that is.
@csp_update({"form-action": ["*"]})
@login_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest, slug: str) -> HttpResponse:
    """GET asks for confirmation (a link alone never starts a flow); POST goes to the authorization server."""
    upstream = upstream_connectable_get(user=request.user, slug=slug)
    if upstream is None:
        raise Http404("No such upstream.")
    if request.method == "GET":
        return render(request, "upstreams/connect.html", {"upstream": upstream})
    try:
        authorization_url, pending = upstream_connect_begin(
            user=request.user, upstream=upstream, redirect_uri=_callback_uri(request)
        )
    except CatalogError as exc:
        return render(request, "upstreams/connect.html", {"upstream": upstream, "error": str(exc)}, status=502)
    now = time.time()
    waiting = {state: data for state, data in request.session.get(SESSION_KEY, {}).items() if data["expires"] > now}
    waiting[pending.state] = pending.to_session()
    request.session[SESSION_KEY] = dict(sorted(waiting.items(), key=lambda item: item[1]["expires"])[-MAX_PENDING:])
    return redirect(authorization_url)


@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Where the authorization server sends the browser back. The state is single use: taken out of the session
    whatever happens next."""
    state = request.GET.get("state", "")
    waiting = request.session.get(SESSION_KEY, {})
    data = waiting.pop(state, None) if state else None
    request.session[SESSION_KEY] = waiting
    if data is None:
        return _refused(request, "Unknown or already used connection attempt (state); start again.")
    if "error" in request.GET:
        error = request.GET["error"] if request.GET["error"].isascii() else "error"
        return _refused(request, f"The authorization server did not grant access ({error[:64]}).")
    try:
        connection = upstream_connect_finish(
            user=request.user, pending=PendingConnect.from_session(data), code=request.GET.get("code", ""),
            iss=request.GET.get("iss"),
        )
    except CatalogError as exc:
        return _refused(request, str(exc))
    messages.success(request, f"Connected to {connection.upstream.name}.")
    return redirect("upstream_connections")


def _refused(request: HttpRequest, reason: str) -> HttpResponse:
    return render(request, "upstreams/refused.html", {"reason": reason}, status=400)


@login_required
@require_POST
def disconnect(request: HttpRequest, slug: str) -> HttpResponse:
    connection = upstream_connections_of(user=request.user).filter(upstream__slug=slug).first()
    if connection is None:
        raise Http404("No such connection.")
    upstream_connection_delete(connection=connection, actor=request.user)
    messages.success(request, f"Disconnected from {connection.upstream.name}.")
    return redirect("upstream_connections")
