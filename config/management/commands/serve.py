from __future__ import annotations

import importlib.util
import signal
import sys

from django.core.management.base import BaseCommand, CommandError

from config.management.help import ParagraphHelpFormatter

# The import string, not the object: uvicorn needs it to start several worker processes.
APPLICATION = "config.asgi:application"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _exit_after_graceful_shutdown(signum, frame) -> None:
    sys.exit(0)


class Command(BaseCommand):
    help = (
        "Run Gatehouse under the production ASGI server (uvicorn, with uvloop and httptools when installed).\n\n"
        "SIGTERM or Ctrl+C shuts down gracefully: the listening socket closes at once (new connections are refused), "
        "calls in flight may finish for up to --graceful-timeout seconds, open event streams (Streamable HTTP GET, "
        "legacy SSE) end with an SSE retry hint and WebSocket sessions close with code 1012 (service restart: "
        "reconnect), then buffered token usage is written and pooled upstream sessions (and their stdio children) "
        "are closed. Whatever still runs at the deadline is cancelled; the process exits 0.\n\n"
        "Put a TLS-terminating proxy in front; with --proxy-headers the X-Forwarded-For/-Proto headers of the "
        "addresses in --forwarded-allow-ips are trusted for the client address and scheme."
    )
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Keep the paragraphs of the description.
        return super().create_parser(prog_name, subcommand, formatter_class=ParagraphHelpFormatter, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1; 0.0.0.0 in a container).",
        )
        parser.add_argument("--port", type=int, default=8000, help="Port to bind (default 8000).")
        parser.add_argument(
            "--workers", type=int, default=1,
            help="Worker processes (default 1). With more than one, set PROMETHEUS_MULTIPROC_DIR so /metrics "
                 "sums them.",
        )
        parser.add_argument(
            "--graceful-timeout", type=float, default=30.0, metavar="SECONDS",
            help="After SIGTERM, how long calls in flight may run before they are cancelled (default 30).",
        )
        parser.add_argument(
            "--proxy-headers", action="store_true",
            help="Trust X-Forwarded-For/X-Forwarded-Proto from --forwarded-allow-ips (off by default).",
        )
        parser.add_argument(
            "--forwarded-allow-ips", default="127.0.0.1",
            help="Comma-separated proxy addresses trusted with --proxy-headers (default 127.0.0.1).",
        )
        parser.add_argument(
            "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
            help="uvicorn's own log level (default info).",
        )
        parser.add_argument("--no-access-log", action="store_true", help="Do not log one line per request.")

    def handle(
        self, *args, host: str, port: int, workers: int, graceful_timeout: float, proxy_headers: bool,
        forwarded_allow_ips: str, log_level: str, no_access_log: bool, **options,
    ) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        if graceful_timeout < 0:
            raise CommandError("--graceful-timeout must not be negative.")
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        try:
            import uvicorn
        except ImportError as exc:  # the production requirements install it
            raise CommandError("uvicorn is not installed (pip install -r requirements/prod.txt).") from exc

        # uvicorn restores the handlers it found and raises the signal again once it has shut down gracefully; a
        # stop that was asked for and carried out is a success, so SIGTERM then ends the process with status 0.
        signal.signal(signal.SIGTERM, _exit_after_graceful_shutdown)
        uvicorn.run(
            APPLICATION,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop" if _installed("uvloop") else "asyncio",
            http="httptools" if _installed("httptools") else "h11",
            lifespan="on",  # proxy/lifespan.py flushes usage and closes upstream pools at shutdown
            timeout_graceful_shutdown=graceful_timeout,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
            server_header=False,
            log_level=log_level,
            access_log=not no_access_log,
        )
