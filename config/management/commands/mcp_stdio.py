from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
from django.core.management.base import BaseCommand, CommandError

from config.management.help import ParagraphHelpFormatter
from config.stdio_bridge import BridgeError, StdioBridge, bridge_endpoint


async def _stdin_lines() -> AsyncIterator[bytes]:
    # A thread reads: stdin may be a pipe, a file or a terminal, and only a pipe works with asyncio's readers.
    stdin = sys.stdin.buffer
    while line := await asyncio.to_thread(stdin.readline):
        yield line


class Command(BaseCommand):
    help = (
        "Bridge a stdio MCP client (a desktop app that can only launch commands) to a Gatehouse virtual server.\n\n"
        "Reads JSON-RPC messages, one per line, from stdin and sends them to <url>/servers/<SLUG>/mcp with the token; "
        "writes every message from Gatehouse to stdout, one per line. Logs go to stderr only. The token comes from "
        "--token-file or the GATEHOUSE_TOKEN environment variable, never from the command line (where other users "
        "could read it).\n\n"
        "Example client configuration: command /srv/gatehouse/.venv/bin/python, arguments /srv/gatehouse/manage.py "
        "mcp_stdio --server github --url https://gatehouse.example.com --token-file /home/me/.gatehouse-token"
    )
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Keep the paragraphs of the description.
        return super().create_parser(prog_name, subcommand, formatter_class=ParagraphHelpFormatter, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--server", required=True, metavar="SLUG", help="The virtual server's slug.")
        parser.add_argument(
            "--url", default=os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8000"),
            help="Gatehouse's base URL (default $GATEHOUSE_URL or http://127.0.0.1:8000). Plain http is refused for "
                 "hosts other than this machine.",
        )
        parser.add_argument(
            "--token-file", type=Path, metavar="FILE",
            help="File holding the Gatehouse token (gth_…). Default: the GATEHOUSE_TOKEN environment variable.",
        )
        parser.add_argument(
            "--allow-insecure-http", action="store_true",
            help="Send the token over plain http to a remote host (testing only).",
        )
        parser.add_argument(
            "--timeout", type=float, default=30.0, help="Connect/write timeout in seconds (default 30).",
        )
        parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    def handle(
        self, *args, server: str, url: str, token_file: Path | None, allow_insecure_http: bool, timeout: float,
        log_level: str, **options,
    ) -> None:
        # stdout carries the protocol alone: anything else that prints (a library, a warning) goes to stderr.
        protocol_out = sys.stdout.buffer
        sys.stdout = sys.stderr
        logging.basicConfig(
            stream=sys.stderr, level=log_level, format="mcp_stdio: %(levelname)s %(message)s", force=True,
        )

        token = self._token(token_file)
        try:
            endpoint = bridge_endpoint(url, server, allow_insecure_http=allow_insecure_http)
        except BridgeError as exc:
            raise CommandError(str(exc)) from exc

        def write(line: bytes) -> None:
            protocol_out.write(line)
            protocol_out.flush()

        async def bridge() -> None:
            # No read timeout: tool calls and the GET stream may legitimately stay silent for long.
            limits = httpx2.Timeout(timeout, read=None)
            async with httpx2.AsyncClient(timeout=limits, follow_redirects=False) as http:
                await StdioBridge(endpoint=endpoint, token=token, write=write, http=http).run(_stdin_lines())

        asyncio.run(bridge())

    def _token(self, token_file: Path | None) -> str:
        if token_file is not None:
            try:
                token = token_file.read_text().strip()
            except OSError as exc:
                raise CommandError(f"Cannot read --token-file {token_file}: {exc.strerror}.") from exc
        else:
            token = os.environ.get("GATEHOUSE_TOKEN", "").strip()
        if not token:
            raise CommandError("No token: pass --token-file FILE or set GATEHOUSE_TOKEN.")
        return token
