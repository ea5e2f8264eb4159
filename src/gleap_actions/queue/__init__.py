"""The durable queue between ingest and delivery: the `Store` protocol and its two backends."""
