"""Durable delivery: the store, the router, batching, retries and dead letters."""
