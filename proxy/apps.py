from __future__ import annotations

from django.apps import AppConfig


class ProxyConfig(AppConfig):
    name = "proxy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from proxy.upstream.via import via_propagator_install

        via_propagator_install()  # a request's Via chain rides in its upstream requests' _meta
