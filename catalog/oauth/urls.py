from __future__ import annotations

from django.urls import path

from catalog.oauth import views

urlpatterns = [
    path("", views.connections, name="upstream_connections"),
    path("oauth/callback/", views.callback, name="upstream_oauth_callback"),
    path("<slug:slug>/connect/", views.connect, name="upstream_connect"),
    path("<slug:slug>/disconnect/", views.disconnect, name="upstream_disconnect"),
]
