"""The configuration file: YAML, `${VAR}` interpolation, environment overrides, validation."""

from gleap_actions.config.load import Config, DeliveryConfig, ServerConfig, StorageConfig, load_config
from gleap_actions.engine.errors import ConfigError

__all__ = ["Config", "ConfigError", "DeliveryConfig", "ServerConfig", "StorageConfig", "load_config"]
