"""`gleap-actions serve`: the process that wires ingest, the queue, delivery and the HTTP endpoints."""

from gleap_actions.service.app import Role, Service, open_configured_store

__all__ = ["Role", "Service", "open_configured_store"]
