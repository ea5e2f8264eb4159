"""`gleap-actions serve`: run the ingest server and the delivery workers until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import signal
import socket
import sys

import click

from gleap_actions.cli.common import EXIT_CONFIG, load_or_exit, storage_options, with_storage
from gleap_actions.config import Config
from gleap_actions.service import Role, Service
from gleap_actions.service.destination import Backlog, OtherDestinationError

log = logging.getLogger(__name__)


@click.command("serve")
@storage_options
@click.option("--host", help="Address to listen on (default 127.0.0.1; any other needs write keys).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default 8080).")
@click.option(
    "--role",
    type=click.Choice(["all", "ingest", "deliver"]),
    default="all",
    show_default=True,
    help="ingest: only accept events; deliver: only deliver them (nodes sharing a PostgreSQL store).",
)
@click.option(
    "--backlog",
    type=click.Choice(["refuse", "deliver", "discard"]),
    default="refuse",
    show_default=True,
    help="Work queued for another Gleap destination (another base URL or token): refuse to start, "
    "deliver it to this one, or discard it (dead letters are kept).",
)
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING or ERROR.")
def serve_command(
    config_path: str | None,
    host: str | None,
    port: int | None,
    data_dir: str | None,
    store_url: str | None,
    role: Role,
    backlog: Backlog,
    log_level: str,
) -> None:
    """Accept Segment calls on /v1/* and deliver them to Gleap.

    Without a Gleap API token, a built-in Gleap sandbox is started and everything is delivered there.
    """
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
    )
    config = _with_overrides(load_or_exit(config_path), host, port, data_dir, store_url)
    server = config.server
    if not server.write_keys and not _is_loopback(server.host):
        click.echo(
            f"Refusing to listen on {server.host} without write keys: anyone could send events. "
            "Configure server.write_keys (or GLEAP_ACTIONS_WRITE_KEYS), or listen on 127.0.0.1.",
            err=True,
        )
        sys.exit(EXIT_CONFIG)
    try:
        # Bound before anything starts: a port in use is one line, with nothing to undo.
        sock = socket.create_server((server.host, server.port), family=_family(server.host))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        click.echo(f"Cannot listen on {server.host}:{server.port}: {reason}.", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        asyncio.run(_serve(config, role, backlog, sock))
    except OtherDestinationError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG)


def _with_overrides(
    config: Config, host: str | None, port: int | None, data_dir: str | None, store_url: str | None
) -> Config:
    server = dataclasses.replace(
        config.server,
        host=host if host is not None else config.server.host,
        port=port if port is not None else config.server.port,
    )
    return dataclasses.replace(config, server=server, storage=with_storage(config, data_dir, store_url))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def _serve(config: Config, role: Role, backlog: Backlog, sock: socket.socket) -> None:
    service = Service(config, role=role, backlog=backlog, sock=sock)
    # Handlers first: a SIGTERM that arrives while starting, or just after the banner, is a graceful stop.
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        await service.start()
    except BaseException:
        await service.stop()
        raise
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(service.reload()))
    _banner(service)
    await done.wait()
    click.echo("gleap-actions: stopping (finishing deliveries in flight)...", err=True)
    await service.stop()


def _banner(service: Service) -> None:
    lines = [f"gleap-actions: listening on {service.url} (role: {service.role})"]
    if service.ingest is not None:
        url = service.config.server.public_url or service.url
        lines.append(f"  Segment libraries: analytics.js cdnURL, analytics-node and -python host: {url}")
    if not service.config.server.write_keys:
        lines.append("  No write keys configured: any write key is accepted (listening on loopback only).")
    # With write keys the user's own key is needed: a placeholder, never a configured key.
    key = "YOUR_WRITE_KEY" if service.config.server.write_keys else "my-write-key"
    if service.sandbox is not None:
        sandbox = service.sandbox.url
        lines += [
            "",
            "  *** NO GLEAP API TOKEN CONFIGURED ***",
            f"  Delivering to the built-in Gleap sandbox at {sandbox}: nothing leaves this machine.",
            "  Set GLEAP_API_TOKEN (or gleap.api_token in the config) to deliver to Gleap.",
            "",
            "  Send a first event:",
            f"    curl -u '{key}:' -H 'Content-Type: application/json' "
            f"""-d '{{"userId":"user-1","event":"Signed Up"}}' {service.url}/v1/track""",
            "  See what reached the sandbox:",
            f"    curl {sandbox}/__sandbox/events",
        ]
    lines.append(f"  Health: {service.url}/health  Metrics: {service.url}/metrics")
    click.echo("\n".join(lines), err=True)
