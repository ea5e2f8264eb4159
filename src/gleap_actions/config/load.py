"""The configuration: one YAML file (or none), `${VAR}` interpolation, environment overrides, validation.

`load_config` reads every section, compiles every trigger, mapping and audience definition, and raises one
`ConfigError` listing every problem as `location: message`. Secrets (the Gleap token, write keys, the admin
token, a database URL) are never echoed: not in messages, not in the reprs of these objects.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gleap_actions.config.audiences import Computation, read_computations, read_nice, read_on_removal
from gleap_actions.config.interpolate import interpolate
from gleap_actions.config.mappings import read_mappings
from gleap_actions.config.origins import read_origins
from gleap_actions.config.problems import EnvStr, Problems, describe
from gleap_actions.config.reader import Section
from gleap_actions.config.topology import (
    DEFAULT,
    DestinationConfig,
    SourceConfig,
    read_destinations,
    read_sources,
)
from gleap_actions.config.yamlfile import read_yaml
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.presets import PRESETS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import ConfigError
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.store import DEFAULT_DEDUP_WINDOW, DEFAULT_RETENTION

__all__ = [
    "SANDBOX_API_TOKEN",
    "Config",
    "ConfigError",
    "DeliveryConfig",
    "DestinationConfig",
    "ServerConfig",
    "SourceConfig",
    "StorageConfig",
    "load_config",
]

DEFAULT_BASE_URL = "https://api.gleap.io"
# With no token configured, deliveries go to the built-in sandbox, which accepts this token.
SANDBOX_API_TOKEN = "sandbox-token"

_SECRET = {"secret": True}


class _RedactedRepr:
    """A dataclass repr that shows secret fields as `'***'` (or None when unset), subscriptions by name."""

    def __repr__(self) -> str:
        parts = []
        for item in fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if item.metadata.get("secret") and value:
                value = tuple("***" for _ in value) if isinstance(value, tuple) else "***"
            elif item.metadata.get("by_name"):
                value = tuple(subscription.name for subscription in value)
            parts.append(f"{item.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class ServerConfig(_RedactedRepr):
    """The ingest and admin HTTP server. No write keys: any key is accepted; no admin token: no admin API.

    `public_url`: the URL libraries reach this service at (else derived from each settings request);
    `cors_origins`: the browser origins allowed on `/v1/*` (`*`: any); `events_per_second` and `burst`: the
    rate limit of each write key (0: none; burst 0: ten seconds' worth, at least 100).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    write_keys: tuple[str, ...] = field(default=(), metadata=_SECRET)
    admin_token: str | None = field(default=None, metadata=_SECRET)
    public_url: str | None = None
    cors_origins: tuple[str, ...] = ("*",)
    events_per_second: float = 0.0
    burst: int = 0
    header_timeout: float = 10.0  # a request's head must arrive within this (seconds)
    body_timeout: float = 30.0  # and its body within this
    max_connections: int = 4096  # beyond this, a connection waiting for a head is closed


@dataclass(frozen=True, repr=False)
class StorageConfig(_RedactedRepr):
    """The durable queue: a SQLite file in `data_dir`, or PostgreSQL at `url`."""

    data_dir: Path = Path("data")
    url: str | None = field(default=None, metadata=_SECRET)  # may hold a password
    dedup_window: float = DEFAULT_DEDUP_WINDOW
    retention: float = DEFAULT_RETENTION


@dataclass(frozen=True)
class DeliveryConfig:
    """Delivery to Gleap: retry window, concurrency ceiling, rate limits, batch linger, backoff (seconds).

    `requests_per_minute` is the default budget of each Gleap endpoint; `identify_requests_per_minute`
    and `track_requests_per_minute` (None: that default) set one apart. `audience_priority` serves
    audience and computed-trait identifies before other identifies.
    """

    retry_window: float = 14400.0
    max_concurrency: int = 16
    requests_per_minute: int = 1000
    linger: float = 0.2
    initial_backoff: float = 1.0
    max_backoff: float = 300.0
    identify_requests_per_minute: int | None = None
    track_requests_per_minute: int | None = None
    audience_priority: bool = False

    def rate_for(self, endpoint: str) -> int:
        """The configured requests per minute of Gleap `endpoint` ("identify" or "track")."""
        own = self.track_requests_per_minute if endpoint == "track" else self.identify_requests_per_minute
        return self.requests_per_minute if own is None else own


@dataclass(frozen=True, repr=False)
class Config(_RedactedRepr):
    """A loaded, validated configuration.

    `destinations` and `sources`: the Gleap projects and the write keys feeding them (the
    single-destination form is one of each, named `default`); `gleap`, `subscriptions` and `delivery` are
    the first destination's. `uses_sandbox`: some destination has no Gleap token configured.
    """

    gleap: GleapSettings
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    subscriptions: tuple[Subscription, ...] = field(default=(), metadata={"by_name": True})
    uses_sandbox: bool = False
    path: Path | None = None
    audiences: tuple[Computation, ...] = field(default=(), metadata={"by_name": True})
    computed_traits: tuple[Computation, ...] = field(default=(), metadata={"by_name": True})
    audiences_on_removal: str = "keep"  # "keep" or "unset": what Gleap gets when a definition goes
    audiences_nice: int = 10  # the compute stage's process: its nice increment over serve's
    # Values read from the environment: whatever prints the config shows them as `***`.
    env_values: frozenset[str] = field(default=frozenset(), metadata=_SECRET)
    destinations: tuple[DestinationConfig, ...] = ()
    sources: tuple[SourceConfig, ...] = ()

    def __post_init__(self) -> None:
        # Built by hand (tests, embedders) with the single-destination fields only: one of each.
        if not self.destinations:
            only = DestinationConfig(
                DEFAULT, self.gleap, self.subscriptions, self.delivery, self.uses_sandbox
            )
            object.__setattr__(self, "destinations", (only,))
        if not self.sources:
            source = SourceConfig(DEFAULT, self.server.write_keys, tuple(d.name for d in self.destinations))
            object.__setattr__(self, "sources", (source,))

    def destination(self, name: str) -> DestinationConfig:
        """The destination called `name`; KeyError when there is none."""
        for destination in self.destinations:
            if destination.name == name:
                return destination
        raise KeyError(name)

    def only(self, name: str) -> Config:
        """This configuration narrowed to the destination `name` (its settings become the top-level
        `gleap`, `subscriptions` and `delivery`); KeyError when there is none."""
        d = self.destination(name)
        sources = tuple(
            dataclasses.replace(s, destinations=(name,)) for s in self.sources if name in s.destinations
        )
        return dataclasses.replace(
            self,
            gleap=d.gleap,
            subscriptions=d.subscriptions,
            delivery=d.delivery,
            uses_sandbox=d.uses_sandbox,
            destinations=(d,),
            sources=sources,
        )


def load_config(path: str | Path | None, env: Mapping[str, str] = os.environ) -> Config:
    """Load and validate the config file at `path` (None: defaults and the Segment presets).

    Raises `ConfigError` listing every problem as `location: message`.
    """
    problems = Problems()
    file = Path(path) if path is not None else None
    document: Any = read_yaml(file, problems) if file is not None else None
    if document is not None and not isinstance(document, dict):
        problems.add(str(file), f"expected a mapping of sections at the top level, got {describe(document)}")
        document = None
    document = interpolate(document, env, "", problems)
    root = Section(document, "", problems)
    overrides = _environment_overrides(env, problems)
    base_dir = file.parent if file is not None else Path()

    single = None if root.has("destinations") else _read_gleap(root.section("gleap"), overrides)
    server = _read_server(root.section("server"), overrides)
    storage = _read_storage(root.section("storage"), overrides, base_dir)
    delivery = _read_delivery(root.section("delivery"), DeliveryConfig())
    destinations = _read_destinations(root, single, delivery, problems)
    sources = _read_sources(root, server, destinations, problems)
    if root.has("sources"):
        keys = tuple(key for source in sources for key in source.write_keys)
        server = dataclasses.replace(server, write_keys=keys)
    audiences, computed_traits = read_computations(root)
    on_removal = read_on_removal(root)
    nice = read_nice(root)
    root.finish()
    first = (
        destinations[0]
        if destinations
        else DestinationConfig(DEFAULT, GleapSettings(SANDBOX_API_TOKEN), (), delivery, True)
    )
    gleap, subscriptions = first.gleap, first.subscriptions

    if problems.items:
        secrets = (
            *(d.gleap.api_token for d in destinations if not d.uses_sandbox),
            *server.write_keys,
            server.admin_token,
            storage.url,
            *problems.env_values,
        )
        raise ConfigError(_redacted(problems.items, secrets))
    return Config(
        gleap,
        server,
        storage,
        delivery,
        subscriptions,
        any(d.uses_sandbox for d in destinations),
        file,
        audiences=audiences,
        computed_traits=computed_traits,
        audiences_on_removal=on_removal,
        audiences_nice=nice,
        env_values=frozenset(problems.env_values),
        destinations=destinations,
        sources=sources,
    )


def _read_destinations(
    root: Section,
    single: tuple[GleapSettings, bool] | None,
    delivery: DeliveryConfig,
    problems: Problems,
) -> tuple[DestinationConfig, ...]:
    """`destinations:`, or the single destination of top-level `gleap:` (read: `single`) and `mappings:`."""

    def mappings(value: Any, location: str) -> tuple[Subscription, ...]:
        if value is None:
            return read_mappings(list(PRESETS), "presets", problems, ACTIONS)
        return read_mappings(value, location, problems, ACTIONS)

    if single is not None:
        gleap, uses_sandbox = single
        subscriptions = mappings(root.raw("mappings"), "mappings")
        return (DestinationConfig(DEFAULT, gleap, subscriptions, delivery, uses_sandbox),)
    for key in ("gleap", "mappings"):
        if root.has(key):
            problems.add(key, "with `destinations:`, each destination has its own (move it into one)")
    no_overrides = Section({}, "", problems)  # GLEAP_API_TOKEN and GLEAP_BASE_URL: single form only
    return read_destinations(
        root.raw("destinations"),
        "destinations",
        problems,
        read_gleap=lambda section: _read_gleap(section, no_overrides),
        read_delivery=lambda section: _read_delivery(section, delivery),
        read_mappings=mappings,
    )


def _read_sources(
    root: Section, server: ServerConfig, destinations: tuple[DestinationConfig, ...], problems: Problems
) -> tuple[SourceConfig, ...]:
    """`sources:`, or one source with `server.write_keys` feeding every destination."""
    names = tuple(d.name for d in destinations)
    if not root.has("sources"):
        return (SourceConfig(DEFAULT, server.write_keys, names),)
    if server.write_keys:
        problems.add("server.write_keys", "with `sources:`, each source lists its own write keys")
    return read_sources(root.raw("sources"), "sources", problems, names)


def _redacted(messages: list[str], secrets: Iterable[str | None]) -> list[str]:
    """`messages` with every configured secret and every value from the environment replaced by `***`:
    a secret pasted under another key (say, the Gleap token as `server.port`, or an environment variable
    in a mapping's name or action) is echoed as a plain value otherwise."""
    known = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    for secret in known:
        messages = [m.replace(secret, "***") for m in messages]
    return messages


_OVERRIDES = (
    "GLEAP_API_TOKEN",
    "GLEAP_BASE_URL",
    "GLEAP_ACTIONS_WRITE_KEYS",
    "GLEAP_ACTIONS_ADMIN_TOKEN",
    "GLEAP_ACTIONS_DATA_DIR",
)


def _environment_overrides(env: Mapping[str, str], problems: Problems) -> Section:
    """The override variables that are set and non-empty; problems are located by variable name."""
    return Section({name: EnvStr(env[name]) for name in _OVERRIDES if env.get(name)}, "", problems)


def _read_gleap(section: Section, overrides: Section) -> tuple[GleapSettings, bool]:
    token = section.string("api_token", None, secret=True)
    token = overrides.string("GLEAP_API_TOKEN", token, secret=True)
    base_url = section.url("base_url", DEFAULT_BASE_URL) or DEFAULT_BASE_URL
    base_url = overrides.url("GLEAP_BASE_URL", base_url) or base_url
    timeout = section.duration("timeout", 10.0, positive=True)
    section.finish()
    settings = GleapSettings(api_token=token or SANDBOX_API_TOKEN, base_url=base_url, timeout=timeout)
    return settings, token is None


def _read_server(section: Section, overrides: Section) -> ServerConfig:
    host = section.string("host", ServerConfig.host) or ServerConfig.host
    port = section.integer("port", ServerConfig.port, minimum=0, maximum=65535)
    write_keys = section.string_list("write_keys", secret=True)
    if overrides.has("GLEAP_ACTIONS_WRITE_KEYS"):
        text = overrides.string("GLEAP_ACTIONS_WRITE_KEYS", "", secret=True) or ""
        write_keys = tuple(key.strip() for key in text.split(",") if key.strip())
    admin_token = section.string("admin_token", None, secret=True)
    admin_token = overrides.string("GLEAP_ACTIONS_ADMIN_TOKEN", admin_token, secret=True)
    public_url = section.url("public_url", None)
    origins = read_origins(section, "cors_origins")
    limit = section.section("rate_limit")
    events_per_second = float(limit.integer("events_per_second", 0, minimum=0))
    burst = limit.integer("burst", 0, minimum=0)  # 0: the limiter's default
    limit.finish()
    header_timeout = section.duration("header_timeout", 10.0, positive=True)
    body_timeout = section.duration("body_timeout", 30.0, positive=True)
    max_connections = section.integer("max_connections", 4096, minimum=1)
    section.finish()
    return ServerConfig(
        host=host,
        port=port,
        write_keys=write_keys,
        admin_token=admin_token,
        public_url=public_url,
        cors_origins=origins,
        events_per_second=events_per_second,
        burst=burst,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
    )


def _shared_store(url: str) -> bool:
    """Whether `url` names a queue several nodes can share (the only kind `storage.url` takes)."""
    # Imported here: the factory loads psycopg (about 0.2 s), which commands that open no queue, such as
    # preview, should not pay for unless a storage URL is configured.
    from gleap_actions.queue.factory import StoreLocationError, parse_location

    try:
        return parse_location(url).shared
    except StoreLocationError:
        return False


def _read_storage(section: Section, overrides: Section, base_dir: Path) -> StorageConfig:
    data_dir_text = section.string("data_dir", None)
    data_dir = base_dir / data_dir_text if data_dir_text is not None else Path("data")
    if overrides.has("GLEAP_ACTIONS_DATA_DIR"):
        data_dir = Path(overrides.string("GLEAP_ACTIONS_DATA_DIR", "") or "data")
    url = section.string("url", None, secret=True)
    if url is not None and not _shared_store(url):
        section.problems.add(section.at("url"), "expected a postgresql:// URL (omit it to use SQLite)")
        url = None
    dedup_window = section.duration("dedup_window", StorageConfig.dedup_window)
    retention = section.duration("retention", StorageConfig.retention)
    section.finish()
    return StorageConfig(data_dir=data_dir, url=url, dedup_window=dedup_window, retention=retention)


def _endpoint_rate(section: Section, endpoint: str, defaults: DeliveryConfig) -> int | None:
    """`<endpoint>_requests_per_minute`, or the default's (None: `requests_per_minute` applies)."""
    key = f"{endpoint}_requests_per_minute"
    inherited: int | None = getattr(defaults, key)
    if not section.has(key):
        return inherited
    return section.integer(key, inherited or defaults.requests_per_minute, minimum=1)


def _read_delivery(section: Section, defaults: DeliveryConfig) -> DeliveryConfig:
    initial_backoff = section.duration("initial_backoff", defaults.initial_backoff, positive=True)
    max_backoff = section.duration("max_backoff", defaults.max_backoff, positive=True)
    if max_backoff < initial_backoff:
        section.problems.add(
            section.at("max_backoff"), f"must be at least initial_backoff ({initial_backoff:g}s)"
        )
    config = DeliveryConfig(
        retry_window=section.duration("retry_window", defaults.retry_window),
        max_concurrency=section.integer("max_concurrency", defaults.max_concurrency, minimum=1, maximum=1024),
        requests_per_minute=section.integer("requests_per_minute", defaults.requests_per_minute, minimum=1),
        identify_requests_per_minute=_endpoint_rate(section, "identify", defaults),
        track_requests_per_minute=_endpoint_rate(section, "track", defaults),
        audience_priority=section.boolean("audience_priority", defaults.audience_priority),
        linger=section.duration("linger", defaults.linger),
        initial_backoff=initial_backoff,
        max_backoff=max_backoff,
    )
    section.finish()
    return config
