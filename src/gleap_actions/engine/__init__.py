"""Segment Actions semantics (mappings, triggers, fields, actions, errors); knows nothing of Gleap."""
