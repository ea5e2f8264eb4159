"""Destinations built on the engine; Gleap is the one this project delivers to."""
