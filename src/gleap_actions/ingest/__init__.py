"""Ingest: Segment's HTTP tracking API, its limits and metrics, and the group commit into the queue."""
