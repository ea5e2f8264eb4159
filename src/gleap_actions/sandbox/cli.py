"""`gleap-actions sandbox`: run the Gleap API emulator standalone until interrupted."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click

from gleap_actions.sandbox.faults import Faults, FaultSpecError
from gleap_actions.sandbox.runner import DEFAULT_API_TOKEN, Sandbox

DEFAULT_PORT = 8090


def _faults_from_options(options: dict[str, Any]) -> Faults:
    spec: dict[str, Any] = {
        "rate_limit": options["rate_limit"] or None,
        "rate_limit_window": options["rate_limit_window"],
        "endpoint_rate_limits": {
            endpoint: options[f"{endpoint}_rate_limit"] or None
            for endpoint in ("identify", "track")
            if options[f"{endpoint}_rate_limit"] is not None
        },
        "error_rate": options["error_rate"],
        "error_status": int(options["error_status"]),
        "latency": options["latency"],
        "timeout_rate": options["timeout_rate"],
        "max_batch": options["max_batch"],
        "max_body_bytes": options["max_body_bytes"],
        "seed": options["seed"],
    }
    if options["outage"] is None and (options["outage_mode"] != "503" or options["outage_start"]):
        raise click.UsageError("--outage-mode and --outage-start need --outage SECONDS")
    if options["outage"] is not None:
        spec["outage"] = {
            "duration": options["outage"],
            "mode": options["outage_mode"],
            "start_in": options["outage_start"],
        }
    try:
        return Faults.from_json(spec)
    except FaultSpecError as exc:
        raise click.UsageError(f"invalid fault options: {exc}") from exc


async def _serve(sandbox: Sandbox, token_source: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sandbox.start()
    try:
        click.echo(f"Gleap sandbox listening on {sandbox.url}")
        click.echo(f"  Api-Token: {token_source}")
        click.echo(f"  inspect: {sandbox.url}/__sandbox/stats, /requests, /contacts, /events, /faults")
        click.echo(f"  faults: {_describe(sandbox.faults)}")
        click.echo("Press Ctrl+C to stop.", nl=True)
        await stop.wait()
    finally:
        stats = sandbox.state.stats()
        await sandbox.stop()
        click.echo(f"Stopped: {stats.requests} requests, {stats.events} events, {stats.contacts} contacts.")


def _describe(faults: Faults) -> str:
    changed = {key: value for key, value in faults.to_json().items() if value != getattr(Faults(), key)}
    base = (
        f"rate limit {faults.rate_limit}/{faults.rate_limit_window:g}s"
        if faults.rate_limit
        else "no rate limit"
    )
    for endpoint, limit in faults.endpoint_rate_limits.items():
        base += f", {endpoint} {f'{limit}/{faults.rate_limit_window:g}s' if limit else 'unlimited'}"
    extra = ", ".join(
        f"{key}={value}"
        for key, value in changed.items()
        if not key.endswith(("rate_limit", "rate_limits", "window"))
    )
    return f"{base}, {extra}" if extra else base


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port (0: any free port).")
@click.option(
    "--api-token",
    envvar="GLEAP_SANDBOX_TOKEN",
    default=None,
    help=f"The Api-Token clients must send (env GLEAP_SANDBOX_TOKEN; default {DEFAULT_API_TOKEN!r}).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Requests per window per endpoint before 429 (0: unlimited).",
)
@click.option(
    "--identify-rate-limit",
    type=click.IntRange(min=0),
    default=None,
    help="Requests per window on /admin/identify alone (0: unlimited; default: --rate-limit).",
)
@click.option(
    "--track-rate-limit",
    type=click.IntRange(min=0),
    default=None,
    help="Requests per window on /admin/track alone (0: unlimited; default: --rate-limit).",
)
@click.option("--rate-limit-window", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option(
    "--error-rate", type=float, default=0.0, show_default=True, help="Fraction answered with an error."
)
@click.option("--error-status", type=click.Choice(["500", "502", "503"]), default="500", show_default=True)
@click.option("--latency", type=float, default=0.0, show_default=True, help="Seconds added to every answer.")
@click.option("--timeout-rate", type=float, default=0.0, show_default=True, help="Fraction never answered.")
@click.option("--outage", type=float, default=None, help="Outage duration in seconds.")
@click.option("--outage-mode", type=click.Choice(["503", "refuse"]), default="503", show_default=True)
@click.option("--outage-start", type=float, default=0.0, show_default=True, help="Seconds until the outage.")
@click.option(
    "--max-batch", type=int, default=None, help="Most events per /admin/track request (413 beyond)."
)
@click.option("--max-body-bytes", type=int, default=None, help="Largest request body (413 beyond).")
@click.option("--seed", type=int, default=None, help="Seed for which requests fail (reproducible runs).")
@click.option("--request-log-size", type=click.IntRange(min=0), default=1000, show_default=True)
def sandbox_command(
    host: str, port: int, api_token: str | None, request_log_size: int, **fault_options: Any
) -> None:
    """Run a local Gleap API emulator with fault injection (like LocalStack for AWS).

    Point a Gleap integration at the printed URL. Inspect what it received under /__sandbox/ and change
    faults at run time with POST /__sandbox/faults. See docs/sandbox.md.
    """
    faults = _faults_from_options(fault_options)
    token_source = "set (value not shown)" if api_token else f"the default, {DEFAULT_API_TOKEN!r}"
    sandbox = Sandbox(api_token or DEFAULT_API_TOKEN, host, port, faults, request_log_size=request_log_size)
    try:
        asyncio.run(_serve(sandbox, token_source))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
