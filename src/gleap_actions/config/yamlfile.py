"""Reading the YAML config file: safe loading, duplicate keys refused, errors as `file:line:column`.

PyYAML's own error text quotes the offending line, which may hold a secret, so only the problem and its
position are reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gleap_actions.config.problems import Problems


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys instead of silently keeping the last one."""

    duplicates: list[tuple[int, int, str]]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                mark = key_node.start_mark
                self.duplicates.append((mark.line + 1, mark.column + 1, key))
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, problems: Problems) -> Any:
    """The parsed document at `path` (None when empty or unreadable; problems say why)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(str(path), "no such file")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(str(path), f"cannot read the file ({type(exc).__name__})")
        return None
    loader = _Loader(text)
    loader.duplicates = []
    try:
        document = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problems.add(str(path), f"{where}invalid YAML: {exc.problem or exc.context}")
        return None
    except yaml.YAMLError as exc:
        problems.add(str(path), f"invalid YAML ({type(exc).__name__})")
        return None
    finally:
        loader.dispose()
    for line, column, key in sorted(loader.duplicates):
        problems.add(str(path), f"line {line}, column {column}: duplicate key {key!r}")
    return document
