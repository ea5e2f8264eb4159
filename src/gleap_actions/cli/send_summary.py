"""What a `send` run did, from its delivery outcomes, and the summary printed at its end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import click

from gleap_actions.deliver.outcomes import DeliveryOutcomes

Stop = Literal["refused", "gave_up", "timeout", "interrupted"]
_SHOWN = 20  # invalid lines and rejection reasons listed at most


@dataclass
class SendReport:
    """Counts of one run; `stopped` says why it ended before everything was settled (None: it was)."""

    destination: str
    read: int = 0
    invalid: list[str] = field(default_factory=list)
    duplicates_in_file: int = 0
    sent_by_earlier_run: int = 0  # in the file, already queued or delivered by an earlier run
    left_from_earlier_run: int = 0  # still queued from an earlier run (delivered in this one)
    not_delivered: int = 0  # still queued at the end
    outcomes: DeliveryOutcomes = field(default_factory=DeliveryOutcomes)
    stopped: Stop | None = None
    give_up_after: float = 0.0

    @property
    def rejected(self) -> int:
        """Events dead-lettered in this run (each mapping counts)."""
        return sum(self.outcomes.dead_lettered.values())

    @property
    def ok(self) -> bool:
        """Everything settled, and nothing invalid or rejected."""
        return self.stopped is None and not self.invalid and not self.rejected and not self.not_delivered

    def print(self) -> None:
        """The summary, to stderr."""
        o = self.outcomes
        rows = [
            ("events read", self.read),
            ("invalid lines", len(self.invalid)),
            ("duplicate messageIds (sent once)", self.duplicates_in_file),
            ("already sent by an earlier run", self.sent_by_earlier_run),
            ("left by an earlier run", self.left_from_earlier_run),
            ("filtered: integrations object", o.filtered["integrations"]),
            ("filtered: no mapping matched", o.filtered["no_matching_mapping"]),
        ]
        rows += [(f"delivered: {mapping}", count) for mapping, count in sorted(o.delivered.items())]
        rows += [("rejected (dead letters)", self.rejected)]
        rows += [("not delivered (still queued)", self.not_delivered)]
        lines = ["", f"Sent to {self.destination}:"] + [f"  {label:<34}{count:>10}" for label, count in rows]
        lines += [f"  invalid {text}" for text in self.invalid[:_SHOWN]]
        if len(self.invalid) > _SHOWN:
            lines.append(f"  ... and {len(self.invalid) - _SHOWN} more invalid lines")
        for (mapping, reason), count in o.dead_lettered.most_common(_SHOWN):
            lines.append(f"  rejected {count} x {mapping}: {reason}")
        lines += self._why_stopped()
        click.echo("\n".join(lines), err=True)

    def _why_stopped(self) -> list[str]:
        again = "Run the same command again to send what is left (nothing is sent twice)."
        if self.stopped == "refused":
            return [
                f"Stopped: Gleap refused the API token (HTTP {self.outcomes.refused_status}). "
                "Check GLEAP_API_TOKEN (or gleap.api_token), then run the same command again."
            ]
        if self.stopped == "gave_up":
            error = self.outcomes.last_error or "no answer"
            waited = f"{self.give_up_after:g} s"
            return [f"Gave up: no request got through for {waited} (last error: {error}). {again}"]
        if self.stopped == "timeout":
            return [f"Stopped at --timeout. {again}"]
        if self.stopped == "interrupted":
            return [f"Interrupted. {again}"]
        return []
