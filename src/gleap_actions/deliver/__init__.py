"""Delivery: one loop per mapping claims queued work, batches it, sends it to Gleap and records outcomes."""
