"""The mapping-kit: Segment mapping directives, compiled once into callables."""
