"""Collecting config problems as `location: message`, and describing values without leaking secrets."""

from __future__ import annotations

from typing import Any


class EnvStr(str):
    """A string that came (partly) from the environment: never echoed in a message, it may be a secret."""

    __slots__ = ()


class Problems:
    """Every problem found while reading a config, in the order found."""

    def __init__(self) -> None:
        self.items: list[str] = []
        # Every value read from the environment: messages never echo them (`load_config` redacts them).
        self.env_values: set[str] = set()

    def add(self, location: str, message: str) -> None:
        """Record `message` at `location` (e.g. `mappings[2].trigger`)."""
        self.items.append(f"{location}: {message}" if location else message)


def join(location: str, key: str | int) -> str:
    """The location of `key` inside `location`: `server` + `port` -> `server.port`, + 2 -> `mappings[2]`."""
    if isinstance(key, int):
        return f"{location}[{key}]"
    return f"{location}.{key}" if location else key


def type_name(value: Any) -> str:
    """The YAML name of a value's type, as users see it in the file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def describe(value: Any, *, secret: bool = False) -> str:
    """`a string ('abc')`: the type, and the value itself only when it cannot be a secret."""
    name = type_name(value)
    if secret or isinstance(value, EnvStr | list | dict) or value is None:
        return name
    text = repr(value) if isinstance(value, str) else str(value).lower()
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{name} ({text})"
