"""HTTP: the Segment tracking API, the admin API, metrics and health."""
