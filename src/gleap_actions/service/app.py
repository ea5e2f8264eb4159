"""`gleap-actions serve`: one process that ingests, stores and delivers.

Wiring, top to bottom: config -> store -> (sandbox when no Gleap token) -> ingest (Segment HTTP API, the
libraries' settings, CORS) -> pipeline (router + delivery) -> compute stage (audiences and computed traits,
in a child process: compute/process.py) -> HTTP app (ingest, admin, console, health, metrics).
`stop()` is graceful: stop accepting connections, commit what ingest holds, let deliveries in flight finish
or give them back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from aiohttp import web
from prometheus_client import CollectorRegistry, disable_created_metrics

from gleap_actions import events
from gleap_actions.admin.api import AdminAPI
from gleap_actions.admin.audiences import AudienceRoutes
from gleap_actions.compute.computer import OnRemoval
from gleap_actions.compute.metrics import ComputeMetrics
from gleap_actions.compute.process import ComputeProcess
from gleap_actions.config import Config, StorageConfig, load_config
from gleap_actions.config.audiences import Computation
from gleap_actions.config.load import SANDBOX_API_TOKEN
from gleap_actions.config.topology import DestinationConfig
from gleap_actions.console.app import Console
from gleap_actions.deliver.budget import ENDPOINTS
from gleap_actions.deliver.pipeline import Pipeline, Tuning
from gleap_actions.destinations.gleap import account as gleap_account
from gleap_actions.destinations.gleap.client import send
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import ConfigError
from gleap_actions.ingest.cors import CorsPolicy, cors_middleware
from gleap_actions.ingest.limits import RUNNER_OPTIONS
from gleap_actions.ingest.settings_route import SettingsRoute
from gleap_actions.ingest.tracking import TrackingAPI
from gleap_actions.preview import preview_body
from gleap_actions.queue.factory import Backend, open_store
from gleap_actions.queue.owners import owner_name
from gleap_actions.queue.store import DEFAULT_LEASE, NewEvent
from gleap_actions.route import delivery_key, destinations_fed, split_key
from gleap_actions.sandbox import Sandbox
from gleap_actions.service.destination import Backlog, claim_queues, recorded_value
from gleap_actions.service.http import ConnectionLimits, HTTPRunner, json_errors
from gleap_actions.service.ops import add_ops_routes

log = logging.getLogger(__name__)

Role = Literal["all", "ingest", "deliver"]

disable_created_metrics()  # type: ignore[no-untyped-call]  # `*_created` series are noise on /metrics


class Service:
    """The running service. `role` lets nodes sharing a PostgreSQL store scale ingest and delivery apart."""

    def __init__(
        self,
        config: Config,
        *,
        role: Role = "all",
        backend: Backend | None = None,
        lease: float = DEFAULT_LEASE,
        backlog: Backlog = "refuse",
        sock: socket.socket | None = None,
    ) -> None:
        self.config = config
        self.role = role
        self.backlog = backlog  # what to do with work queued for another destination (service.destination)
        self._sock = sock  # already bound by the caller (serve binds before starting anything)
        self.lease = lease  # how long claimed work stays with this node before another may take it over
        self.registry = CollectorRegistry()
        self.backend = backend or open_configured_store(config.storage)
        self.store = self.backend.store
        self.sandbox: Sandbox | None = None
        self.settings: GleapSettings = config.gleap  # the first destination's
        self.destinations: tuple[DestinationConfig, ...] = config.destinations
        self.ingest: TrackingAPI | None = None
        self._settings_route: SettingsRoute | None = None
        self.pipeline: Pipeline | None = None
        self.compute: ComputeProcess | None = None
        self._compute_metrics: ComputeMetrics | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.console = Console(
            self.store,
            config,
            self.registry,
            run=asyncio.to_thread,
            preview=self._preview,
            reload=self.reload,
            on_replay=lambda: self.pipeline.notify() if self.pipeline else None,
        )
        self._audience_routes = AudienceRoutes(self.store, self._computations(config), asyncio.to_thread)
        self._runner: HTTPRunner | None = None
        self._site: web.BaseSite | None = None
        self._stopping = False
        self.url = ""

    async def start(self) -> None:
        """Start the sandbox (if no token), the pipeline and the HTTP server."""
        if self.role != "ingest":
            discarded = await asyncio.to_thread(
                claim_queues, self.store, self.config.destinations, self.backlog, self.backend.description
            )
            if discarded:
                log.warning("event=backlog_discarded items=%d", discarded)
        if self.config.uses_sandbox and self.role != "ingest":
            self.sandbox = Sandbox(api_token=SANDBOX_API_TOKEN)
            await self.sandbox.start()
        self.destinations = self._resolved(self.config)
        self.console.destinations = self.destinations
        self.settings = self.destinations[0].gleap
        if self.role != "ingest":
            self.pipeline = Pipeline(
                self.store,
                self.config.subscriptions,
                self.settings,
                self.config.delivery,
                send=send,
                delivery_enabled=events.delivery_enabled,
                registry=self.registry,
                tuning=Tuning(retention=self.config.storage.retention, lease=self.lease),
                destinations=self.destinations,
                sources=self.config.sources,
                # Each destination's budgets are its Gleap project's (one per endpoint), shared by every
                # node of a queue.
                rates=lambda d: {
                    e: self.backend.shared_limiter(d.delivery.rate_for(e), d.gleap.api_token, e)
                    for e in ENDPOINTS
                },
                observe=self.console.observe,
            )
            self.console.live.decide = self.pipeline.router.decide
        if self.role != "deliver":
            pipeline = self.pipeline
            self.ingest = TrackingAPI.from_config(
                self.store,
                self.config.server,
                self.config.storage,
                registry=self.registry,
                # On a node that also delivers, routes are decided at ingest when the queue stores them.
                route=pipeline.router.decide if pipeline and self.backend.routes_on_append else None,
                on_commit=self._committed if pipeline else self.console.committed,
            )
        if self.pipeline is not None:
            await self.pipeline.start()
            # Placed before ingest accepts anything: every event stored from now on is read.
            await asyncio.to_thread(self.store.profiles.open_cursor)
            self.console.computing = True
            await self._compute(self._computations(self.config))
        app = self._build_app()
        limits = ConnectionLimits(self.config.server.header_timeout, self.config.server.max_connections)
        self._runner = HTTPRunner(
            app, limits=limits, registry=self.registry, access_log=None, **RUNNER_OPTIONS
        )
        await self._runner.setup()
        server = self.config.server
        if self._sock is not None:
            self._site = web.SockSite(self._runner, self._sock)
        else:
            self._site = web.TCPSite(self._runner, server.host, server.port, reuse_address=True)
        await self._site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{_url_host(host)}:{port}"
        log.info("event=service_started role=%s url=%s", self.role, self.url)

    @staticmethod
    def _computations(config: Config) -> tuple[Computation, ...]:
        return (*config.audiences, *config.computed_traits)

    async def _compute(self, computations: tuple[Computation, ...]) -> None:
        """Hand the compute stage these definitions; start its process when there is work for it (a
        definition, or a removed one still to unset)."""
        assert self.pipeline is not None
        on_removal: OnRemoval = "unset" if self.config.audiences_on_removal == "unset" else "keep"
        if self.compute is not None:
            self.compute.reconfigure(computations, on_removal)
            return
        if not computations and not await asyncio.to_thread(self._remembered):
            return
        if self._compute_metrics is None:
            self._compute_metrics = ComputeMetrics(self.registry, on_change=self.console.audiences.record)
        self.compute = ComputeProcess(
            self.config.storage.url,
            self.config.storage.data_dir,
            computations,
            owner=owner_name(),
            on_removal=on_removal,
            lease=self.lease,
            observer=self._compute_metrics,
            notify=self.pipeline.notify,
            nice=self.config.audiences_nice,
        )
        await self.compute.start()
        self._lag_task = asyncio.create_task(self._lag_loop(self._compute_metrics))

    async def _lag_loop(self, metrics: ComputeMetrics) -> None:
        """Refresh the lag gauges every second from serve's side: a stage descheduled or busy on a long
        round cannot report how far behind it is."""
        while True:
            try:
                lag = await asyncio.to_thread(self.store.profiles.lag, time.time())
                if lag is not None:
                    metrics.lagging(*lag)
            except Exception:
                log.exception("event=audience_lag_failed")
            await asyncio.sleep(1.0)

    def _remembered(self) -> bool:
        """Whether the store has definitions that are running or being unset."""
        states = {row.state for row in self.store.profiles.computations().values()}
        return bool(states & {"syncing", "live", "removing"})

    def _build_app(self) -> web.Application:
        server = self.config.server
        # CORS outermost, so that error answers (made JSON by `json_errors`) carry its headers too.
        app = web.Application(middlewares=[cors_middleware(CorsPolicy(server.cors_origins)), json_errors])
        if self.ingest is not None:
            self.ingest.add_routes(app)
            self._settings_route = SettingsRoute(server.write_keys, server.public_url)
            self._settings_route.add_routes(app)
        AdminAPI(
            self.store,
            server.admin_token,
            run=asyncio.to_thread,
            preview=self._preview,
            delete_user=self.delete_user,
            reload=self.reload,
            on_replay=self.pipeline.notify if self.pipeline else lambda: None,
            discard=self.pipeline.discard if self.pipeline else None,
            topology=self.topology,
            audiences=self._audience_routes,
            delivered=lambda: self.pipeline.outcomes.delivered if self.pipeline else {},
        ).add_routes(app)
        self.console.add_routes(app)
        add_ops_routes(app, self.registry, self._not_ready_reason)
        return app

    def _committed(self, events: Sequence[NewEvent], accepted: Sequence[bool]) -> None:
        """Ingest committed events: the pipeline counts their routes and wakes delivery, the console shows
        them."""
        assert self.pipeline is not None
        self.pipeline.committed(events, accepted)
        self.console.committed(events, accepted)

    def _not_ready_reason(self) -> str | None:
        if self._stopping:
            return "shutting down"
        if self.ingest is not None and self.ingest.overloaded:
            return "ingest is overloaded"
        return None

    def _preview(self, body: bytes, batch: bool, destination: str | None = None) -> Iterator[bytes]:
        """What the destination `destination` (None: the first) would be sent; KeyError when unknown."""
        chosen = self.destinations[0] if destination is None else self._destination(destination)
        config = dataclasses.replace(self.config, gleap=chosen.gleap, subscriptions=chosen.subscriptions)
        return preview_body(body, config, batch=batch)

    def _destination(self, name: str) -> DestinationConfig:
        for destination in self.destinations:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def _resolved(self, config: Config) -> tuple[DestinationConfig, ...]:
        """`config.destinations`, those without a token pointed at this node's sandbox."""
        if self.sandbox is None:
            return config.destinations
        url = self.sandbox.url
        return tuple(
            dataclasses.replace(d, gleap=dataclasses.replace(d.gleap, base_url=url)) if d.uses_sandbox else d
            for d in config.destinations
        )

    async def topology(self, per_key: dict[str, dict[str, int]]) -> dict[str, Any]:
        """The admin stats by destination and mapping, and the delivery keys no mapping delivers."""
        names = [d.name for d in self.destinations]
        by_destination: dict[str, dict[str, dict[str, int]]] = {name: {} for name in names}
        configured = {delivery_key(d.name, s.name) for d in self.destinations for s in d.subscriptions}
        unconfigured: dict[str, dict[str, int]] = {}
        for key, counts in per_key.items():
            if key not in configured:
                unconfigured[key] = counts
                continue
            destination, mapping = split_key(key, names)
            by_destination.setdefault(destination, {})[mapping] = counts
        return {"destinations": by_destination, "unconfigured": unconfigured}

    async def delete_user(self, user_id: str, destinations: tuple[str, ...] = ()) -> dict[str, Any]:
        """Drop the user's queued events, then ask each destination the user's sources feed (or those
        named) to delete the contact (`route.destinations_fed`)."""
        names = tuple(d.name for d in self.destinations)
        if not destinations:
            sources = await asyncio.to_thread(self.store.user_sources, user_id)
            destinations = destinations_fed(self.config.sources, names, sources)
        known = [d for d in self.destinations if d.name in destinations]
        unknown = sorted(set(destinations) - {d.name for d in known})
        if unknown:
            return {"ok": False, "message": f"unknown destination(s): {', '.join(unknown)}", "status": None}
        dropped = await asyncio.to_thread(self.store.drop_user, user_id)
        results: dict[str, dict[str, Any]] = {}
        for destination in known:
            if destination.uses_sandbox and self.sandbox is None:
                # An ingest-only node without a token has no Gleap to ask (and must not ask the real one).
                outcome = gleap_account.Outcome(False, "no Gleap API token is configured on this node")
            else:
                outcome = await gleap_account.delete_user(destination.gleap, user_id)
            log.info(
                "event=user_deleted destination=%s dropped=%d ok=%s status=%s",
                destination.name,
                dropped,
                outcome.ok,
                outcome.status,
            )
            results[destination.name] = {
                "ok": outcome.ok,
                "message": outcome.message,
                "status": outcome.status,
            }
        first = next(iter(results.values()))
        return {
            "ok": all(r["ok"] for r in results.values()),
            "message": first["message"]
            if len(results) == 1
            else "; ".join(f"{name}: {r['message']}" for name, r in results.items()),
            "status": first["status"],
            "dropped": dropped,
            "destinations": results,
        }

    async def reload(self) -> dict[str, Any]:
        """Re-read the config file: Gleap settings (e.g. a fixed token), sources, destinations and their
        mappings, audiences and computed traits, without a restart; paused delivery resumes. Queued events
        are kept; those routed to a destination or mapping no longer configured are reported
        (`unconfigured`). New definitions are synced, removed ones kept or unset (`audiences_on_removal`)."""
        try:
            fresh = load_config(self.config.path)
        except ConfigError as exc:
            return {"ok": False, "errors": exc.errors}
        if fresh.uses_sandbox and self.sandbox is None and self.role != "ingest":
            self.sandbox = Sandbox(api_token=SANDBOX_API_TOKEN)
            await self.sandbox.start()
        self.config = dataclasses.replace(
            self.config,
            destinations=fresh.destinations,
            sources=fresh.sources,
            audiences=fresh.audiences,
            computed_traits=fresh.computed_traits,
            audiences_on_removal=fresh.audiences_on_removal,
        )
        computations = self._computations(fresh)
        self._audience_routes.computations = computations
        self.console.use_computations(fresh.audiences, fresh.computed_traits)
        if self.pipeline is not None:
            await self._compute(computations)
        self.destinations = self._resolved(fresh)
        self.console.destinations = self.destinations
        self.settings = self.destinations[0].gleap
        keys = [key for source in fresh.sources for key in source.write_keys]
        if self.ingest is not None:
            self.ingest.set_write_keys(keys)
        if self._settings_route is not None:
            self._settings_route.set_write_keys(keys)
        if self.role != "ingest":
            # The operator changed the settings on purpose: pending work now goes there.
            await asyncio.to_thread(self.store.set_destination, recorded_value(fresh.destinations))
        unconfigured: dict[str, int] = {}
        if self.pipeline is not None:
            unconfigured = await self.pipeline.reconfigure(self.destinations, fresh.sources)
        log.info(
            "event=config_reloaded destinations=%d audiences=%d unconfigured=%d",
            len(self.destinations),
            len(computations),
            len(unconfigured),
        )
        return {"ok": True, "destinations": [d.name for d in self.destinations], "unconfigured": unconfigured}

    async def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop; idempotent."""
        if self._stopping:
            return
        self._stopping = True
        started = time.monotonic()
        if self._site is not None:
            await self._site.stop()
        if self._lag_task is not None:
            self._lag_task.cancel()
        if self.compute is not None:
            await self.compute.stop(timeout)
        if self.pipeline is not None:
            await self.pipeline.stop(timeout)
        if self._runner is not None:
            await self._runner.cleanup()  # also stops ingest's committer after it committed its queue
        if self.sandbox is not None:
            await self.sandbox.stop()
        self.store.close()
        log.info("event=service_stopped seconds=%.2f", time.monotonic() - started)


def open_configured_store(storage: StorageConfig) -> Backend:
    """The queue the config names: PostgreSQL at `storage.url`, else SQLite in `storage.data_dir`."""
    if storage.url is None:
        storage.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # personal data: owner only
    return open_store(storage.url, data_dir=storage.data_dir)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
