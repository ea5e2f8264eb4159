"""gleap-actions: a self-hosted, Segment-compatible "Gleap (Actions)" destination."""

__version__ = "0.1.0"
