"""The parts of `gleap_actions.config`: YAML, env interpolation, typed readers that collect problems."""
