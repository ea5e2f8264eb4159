"""A subscription: one configured mapping (trigger + mapping + action), compiled once at config load.

`plan` is the transform hot path: map each event, validate the payload against the action's fields, and
build requests. Single and batch paths apply the same rules; a bad event becomes a `Rejection` and never
affects the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FunctionType, MethodType
from typing import Any

from gleap_actions.engine.action import Action, Payload, Plan, PlannedRequest, Rejection, Request
from gleap_actions.engine.errors import ActionsError, MappingRuntimeError, PayloadValidationError

DEFAULT_BATCH_SIZE = 100
DEFAULT_BATCH_BYTES = 1_000_000  # Gleap documents no limit; stay well under the usual 1 MB proxies allow

Trigger = Callable[[dict[str, Any]], bool]
Mapper = Callable[[dict[str, Any]], Any]


def _direct(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`function` itself, or the bound `__call__` of an instance of a Python class (a compiled mapping or
    validator): the interpreter calls such an instance by a slow path, its bound method by the fast one
    (about 700 instructions less a call on Python 3.11, and `plan` makes two calls per event)."""
    call = type(function).__call__
    return MethodType(call, function) if isinstance(call, FunctionType) else function


@dataclass(frozen=True)
class Subscription:
    """One configured mapping. Build it with `Subscription.compile`; `trigger`/`mapping` are compiled."""

    name: str
    action: Action
    trigger_text: str
    trigger: Trigger
    mapping_config: Mapping[str, Any]
    mapping: Mapper
    enabled: bool = True
    batching: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_bytes: int = DEFAULT_BATCH_BYTES
    coalesce: bool = False  # merge waiting events of one record into one request (`Action.perform_merged`)

    @classmethod
    def compile(
        cls,
        name: str,
        action: Action,
        trigger: str | None = None,
        mapping: Mapping[str, Any] | None = None,
        enabled: bool = True,
        batching: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        coalesce: bool | None = None,
    ) -> Subscription:
        """Parse the trigger (default: the action's) and compile the mapping (default: the action's).

        `coalesce` defaults to on where the action can merge (`Action.perform_merged`).

        Raises `FqlSyntaxError` or `MappingValidationError` for a malformed trigger or mapping, and
        ValueError for a batch size or byte limit below 1, or `coalesce` for an action that cannot merge.
        """
        if batch_size < 1 or batch_bytes < 1:
            raise ValueError(f"{name}: batch size and batch bytes must be at least 1")
        can_merge = action.perform_merged is not None
        if coalesce and not can_merge:
            raise ValueError(f"{name}: action {action.name!r} cannot coalesce requests")
        from gleap_actions.engine.fql import parse
        from gleap_actions.engine.mapping import compile_mapping

        trigger_text = action.default_trigger if trigger is None else trigger
        mapping_config = action.default_mapping if mapping is None else mapping
        return cls(
            name=name,
            action=action,
            trigger_text=trigger_text,
            trigger=parse(trigger_text),
            mapping_config=mapping_config,
            mapping=compile_mapping(dict(mapping_config)),
            enabled=enabled,
            batching=batching,
            batch_size=batch_size,
            batch_bytes=batch_bytes,
            coalesce=can_merge if coalesce is None else coalesce,
        )

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether the trigger selects `event` (`enabled` is not considered)."""
        return self.trigger(event)

    def plan(
        self,
        events: Sequence[dict[str, Any]],
        settings: Any,
        batch: bool,
        *,
        batch_size: int | None = None,
        batch_bytes: int | None = None,
        merge: bool = False,
    ) -> Plan:
        """Map, validate and build the requests for `events` (already selected by the trigger).

        With `batch` and an action that has `perform_batch`, valid events share requests of at most
        `batch_size` events and `batch_bytes` bytes of body (the arguments, when given, else the
        configured ones; a single larger event still gets its own request). With `merge` (and an action
        that has `perform_merged`), consecutive valid events of one record (the same `Action.merge_key`
        value) share one merged request, `batch_size` events at most: callers pass one user's events
        together, in event order. Otherwise each valid event is one request. Invalid events become
        rejections.
        """
        perform_merged = self.action.perform_merged if merge else None
        collect = perform_merged is not None or (batch and self.action.perform_batch is not None)
        requests, rejections, payloads, indices = self.validated(events, settings, collect)
        if perform_merged is not None:
            self._add_merged(perform_merged, settings, payloads, indices, requests)
        elif collect:
            requests += self.batches(
                settings, payloads, indices, batch_size=batch_size, batch_bytes=batch_bytes
            )
        return Plan(requests, rejections)

    def validated(
        self, events: Sequence[dict[str, Any]], settings: Any, collect: bool
    ) -> tuple[list[PlannedRequest], list[Rejection], list[Payload], list[int]]:
        """Map and validate each event: (requests, rejections, payloads, their positions in `events`).

        Without `collect` each valid event becomes its own request; with it, valid payloads are returned
        (for `batches` or a merge) and the requests list is empty. Events are independent of each other,
        so `validate` over parts of a list gives the parts of its result over the whole list.
        """
        requests: list[PlannedRequest] = []
        rejections: list[Rejection] = []
        mapping = _direct(self.mapping)
        validate = _direct(self.action.validate)
        perform = self.action.perform
        payloads: list[Payload] = []
        indices: list[int] = []
        for index, event in enumerate(events):
            try:
                payload = validate(mapping(event))
                if collect:
                    payloads.append(payload)
                    indices.append(index)
                else:
                    requests.append(PlannedRequest(perform(settings, payload), [index]))
            except PayloadValidationError as error:
                rejections.append(Rejection(index, error.status, error.code, str(error)))
            except MappingRuntimeError as error:
                rejections.append(Rejection(index, 400, "MAPPING_FAILED", str(error)))
            except ActionsError as error:
                status = getattr(error, "status", None) or 400
                rejections.append(
                    Rejection(index, status, getattr(error, "code", "INVALID_EVENT"), str(error))
                )
        return requests, rejections, payloads, indices

    def batches(
        self,
        settings: Any,
        payloads: list[Payload],
        indices: list[int],
        *,
        batch_size: int | None = None,
        batch_bytes: int | None = None,
    ) -> list[PlannedRequest]:
        """Batch requests for validated `payloads` (their positions `indices`), in order: `batch_size`
        events at most, split further where a body is over `batch_bytes` (see `plan`)."""
        perform_batch = self.action.perform_batch
        assert perform_batch is not None, "batches of an action without a batch endpoint"
        requests: list[PlannedRequest] = []
        limit = self.batch_bytes if batch_bytes is None else batch_bytes
        size = self.batch_size if batch_size is None else max(1, batch_size)
        for start in range(0, len(payloads), size):
            end = start + size
            batch_payloads, batch_indices = payloads[start:end], indices[start:end]
            self._add_batch(perform_batch, settings, batch_payloads, batch_indices, limit, requests)
        return requests

    def _add_merged(
        self,
        perform_merged: Callable[[Any, list[Payload]], Request],
        settings: Any,
        payloads: list[Payload],
        indices: list[int],
        out: list[PlannedRequest],
    ) -> None:
        """One merged request per run of consecutive payloads of one record, `batch_size` at most."""
        key = self.action.merge_key
        start = 0
        for end in range(1, len(payloads) + 1):
            if (
                end == len(payloads)
                or end - start >= self.batch_size
                or payloads[end].get(key) != payloads[start].get(key)
            ):
                out.append(PlannedRequest(perform_merged(settings, payloads[start:end]), indices[start:end]))
                start = end

    def _add_batch(
        self,
        perform_batch: Callable[[Any, list[Payload]], Request],
        settings: Any,
        payloads: list[Payload],
        indices: list[int],
        limit: int,
        out: list[PlannedRequest],
    ) -> None:
        """One request for `payloads`, or, when its body is over `limit` bytes, requests for equal parts."""
        request = perform_batch(settings, payloads)
        size = len(request.body or b"")
        if size <= limit or len(payloads) == 1:
            out.append(PlannedRequest(request, indices))
            return
        parts = min(len(payloads), -(-size // limit))
        step = -(-len(payloads) // parts)
        for start in range(0, len(payloads), step):
            end = start + step
            self._add_batch(perform_batch, settings, payloads[start:end], indices[start:end], limit, out)
