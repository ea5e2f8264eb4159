"""docs/metrics.md's tables, and what a registry of metrics holds, in the same shape so tests compare
them with `==`."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

DOC = Path(__file__).parent.parent / "docs" / "metrics.md"
_BUCKETS = re.compile(r"^- Buckets of `(\w+)`, in seconds: (.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Row:
    """One metric: its type, label names in order and help text; `labels` None when the registry holds no
    sample to tell them."""

    type: str
    labels: tuple[str, ...] | None
    help: str


def _cell(text: str) -> str:
    """A table cell's text without its code quotes."""
    return text.strip().strip("`")


def documented(section: str) -> dict[str, Row]:
    """The table of the `## {section}` heading: metric name -> its row."""
    body = DOC.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, Row] = {}
    for line in body.splitlines():
        cells = line.split("|")[1:-1]
        if len(cells) != 4 or cells[0].strip() in ("metric", "---"):
            continue
        name, kind, labels, help_text = cells
        rows[_cell(name)] = Row(
            _cell(kind),
            tuple(_cell(label) for label in labels.split(",") if label.strip()),
            help_text.strip(),
        )
    return rows


def documented_buckets() -> dict[str, list[float]]:
    """Histogram name -> the upper bounds of its buckets, as the doc lists them."""
    return {
        name: [float(bound) for bound in bounds.split(", ")]
        for name, bounds in _BUCKETS.findall(DOC.read_text())
    }


def metric_objects(holder: object) -> list[MetricWrapperBase]:
    """The counters, gauges and histograms a metrics class keeps in its attributes."""
    return [value for value in vars(holder).values() if isinstance(value, MetricWrapperBase)]


def shown(
    registry: CollectorRegistry, objects: list[MetricWrapperBase], doc: dict[str, Row]
) -> tuple[dict[str, Row], dict[str, list[float]]]:
    """What `registry` holds once each labelled metric of `objects` has a child with the label names the
    doc gives it (the values do not matter; names other than the metric's add no child, and its labels
    then show as None), and the buckets of each histogram. Read from the collected families, not
    /metrics' text: the text sorts label names, and their order is what `labels(...)` calls rely on."""
    for metric in objects:
        family = metric.describe()[0]
        row = doc.get(_exposed_name(family.name, family.type))
        if row is not None and row.labels:
            with contextlib.suppress(ValueError):
                metric.labels(**{label: label for label in row.labels})
    rows: dict[str, Row] = {}
    buckets: dict[str, list[float]] = {}
    for family in registry.collect():
        name = _exposed_name(family.name, family.type)
        first = family.samples[0].labels if family.samples else None
        labels = None if first is None else tuple(label for label in first if label != "le")
        rows[name] = Row(family.type, labels, family.documentation)
        bounds = [s.labels["le"] for s in family.samples if s.name == family.name + "_bucket"]
        if bounds:
            buckets[name] = [float(bound) for bound in bounds[: bounds.index("+Inf") + 1]]
    return rows, buckets


def _exposed_name(name: str, kind: str) -> str:
    """A family's name as the text format shows it: counters get `_total` there."""
    return name + "_total" if kind == "counter" else name
