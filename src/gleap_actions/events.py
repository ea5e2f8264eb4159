"""The Segment spec: normalising incoming calls, timestamps and the `integrations` object.

`normalize` turns one raw call (a single-call body or one item of a batch) into the event we store and map:
the call type is fixed, batch-level `context`/`integrations`/`sentAt` are merged in, a `messageId` is
assigned when missing, `receivedAt` and `timestamp` are settled (below), and what Segment requires of each
call type is checked. The write key is never part of the event. A numeric id or track event name becomes
its JavaScript string form (`42` -> `"42"`), as Segment sends it.

Timestamps of a live call (`/v1/*`, `live=True`; Segment's rule `timestamp = receivedAt - (sentAt -
originalTimestamp)`):
- `receivedAt` is the server's time of arrival;
- the client's time of the call is `originalTimestamp` if given, else `timestamp`;
- with `sentAt` (the item's, else the batch's) the skew-corrected time is stored as `timestamp` and the client
  time as `originalTimestamp`;
- without `sentAt` the client time is trusted as is (no correction possible);
- without any client time, `timestamp` is `receivedAt`.
Events read from a file (`preview`, `send`, `/admin/preview`; `live=False`) were received before, perhaps
years ago, so nothing is corrected: `receivedAt` and `timestamp` are kept as they are; an event without
`timestamp` (and `originalTimestamp`) gets its own `receivedAt`, else the time of reading.
Dates must be ISO 8601 strings (a date without an offset is taken as UTC) within years 1-9999 UTC, and
the skew-corrected `timestamp` must stay within them too; anything else rejects the event.

The common shape of a recorded event (a track, identify, page or screen call with string ids and names,
object fields that are objects or null, no write key and no batch envelope) is checked by a fast path
(`_normalize_recorded`) before the general one: a backfill runs every line through here. Anything else,
and every refusal with its wording, is left to the general path. A caller that knows the event's JSON text
has no `\\u0000` escape says so (`nul_free`), which spares the fast path its look for NUL characters.

Stored text: a NUL character (U+0000) in an id or name (`userId`, `anonymousId`, `messageId`, `groupId`,
`previousId`, `event`, `name`) rejects the event naming the field: these are stored as text columns, and
PostgreSQL's text refuses NUL. Anywhere else (properties, traits, context) it is kept: the event is stored
as JSON bytes, where it is the escape `\\u0000`. An event nested deeper than `MAX_DEPTH` levels cannot be
written back as JSON and is rejected (`encode`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from gleap_actions.engine.jsvalues import js_number

CALL_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
MAX_MESSAGE_ID_LENGTH = 100
DESTINATION = "Gleap (Action)"

# The deepest nesting the JSON writer accepts (objects and arrays in one another, the event itself included).
MAX_DEPTH = 254
# Top-level strings stored as text columns or used as keys: no NUL (U+0000) allowed in them.
_TEXT_FIELDS = ("userId", "anonymousId", "messageId", "groupId", "previousId", "event", "name")
# Unix seconds of the first and last instant a date may denote (years 1-9999 UTC).
_MIN_SECONDS = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_MAX_SECONDS = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()

# Fields that must be JSON objects when present.
_OBJECT_FIELDS = ("context", "integrations", "properties", "traits")


class EventError(ValueError):
    """An event Segment would not accept. `code` is a stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@lru_cache(maxsize=256)
def format_time(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds (`2024-01-02T03:04:05.000Z`)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object, field: str) -> float:
    """An ISO 8601 date string as Unix seconds (naive means UTC); EventError otherwise."""
    if not isinstance(value, str):
        raise EventError("invalid_timestamp", f"{field} must be an ISO 8601 date string")
    seconds = iso_seconds(value)
    if seconds is None:
        raise EventError("invalid_timestamp", f"{field} is not an ISO 8601 date: {value[:64]!r}")
    return seconds


@lru_cache(maxsize=1024)  # a batch's sentAt is parsed once, not once per event
def iso_seconds(value: str) -> float | None:
    """An ISO 8601 date string as Unix seconds (naive means UTC), or None when it is not one."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    seconds = parsed.timestamp()
    # An offset can carry a date past year 9999 or before year 1 in UTC, which no stored date can hold.
    return seconds if _MIN_SECONDS <= seconds <= _MAX_SECONDS else None


def encode(event: Mapping[str, Any]) -> bytes:
    """The event as JSON bytes; EventError when it is nested deeper than the writer allows (`MAX_DEPTH`)."""
    try:
        return orjson.dumps(event)
    except orjson.JSONEncodeError as exc:
        if "Recursion" in str(exc):
            raise EventError("too_deep", f"the event is nested more than {MAX_DEPTH} levels deep") from None
        raise EventError("invalid_event", f"the event cannot be written as JSON: {exc}") from None


def within_depth(text: bytes | str) -> bool:
    """Whether the JSON document `text` certainly nests no deeper than `MAX_DEPTH`.

    orjson writes back anything it parsed except what is too deep, and `normalize` adds no level to an
    event without a batch envelope, so such an event needs no trial `encode`. Every level takes an opening
    and a closing bracket, and a level of an object inside an object at least 5 characters (`{"":` and
    `}`): a line shorter than that many per level is shallow enough without reading it (most events).
    Otherwise the count of `{` and `[` bounds the depth (those inside strings only make it larger).
    """
    size = len(text)
    if size <= 2 * MAX_DEPTH:
        return True
    if isinstance(text, bytes):
        # `find`, not `b"[" in text`: `in` first tries the byte as an integer, which raises and formats
        # an error message inside before it searches (more than the search itself).
        if text.find(b"[") < 0:
            return size <= 5 * MAX_DEPTH or text.count(b"{") <= MAX_DEPTH
        return text.count(b"{") + text.count(b"[") <= MAX_DEPTH
    if "[" not in text:
        return size <= 5 * MAX_DEPTH or text.count("{") <= MAX_DEPTH
    return text.count("{") + text.count("[") <= MAX_DEPTH


def free_of_nul(text: bytes | str) -> bool:
    """Whether the JSON document `text` certainly has no string holding a NUL character (`nul_free` of
    `normalize_recorded`): JSON writes NUL only as the escape `\\u0000` (a raw one is invalid JSON)."""
    if isinstance(text, bytes):
        # Most lines have no backslash at all: one byte is found faster than six (and not with `in`: see
        # `within_depth`).
        first = text.find(b"\\")
        return first < 0 or text.find(b"\\u0000", first) < 0
    return "\\u0000" not in text


def _is_date(value: object) -> bool:
    """Whether `parse_time` accepts `value`, without its cache for the common UTC form (every recorded
    event has its own dates, so the cache would mostly miss)."""
    if type(value) is not str:
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    # In UTC, any year before 9999 is within the dates a stored event may hold; others take the range check.
    return (parsed.tzinfo is UTC and parsed.year < 9999) or iso_seconds(value) is not None


def _identifier(event: dict[str, Any], field: str) -> str | None:
    """A Segment id field as a string: strings and numbers are accepted, empty or null is missing."""
    value = event.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = js_number(value)
        event[field] = text
        return text
    raise EventError("invalid_field", f"{field} must be a string")


def _merged(batch_value: object, own: object) -> object:
    """A batch-level object merged under the item's own one (the item's keys win)."""
    if isinstance(batch_value, dict) and batch_value:
        return {**batch_value, **own} if isinstance(own, dict) else dict(batch_value)
    return own


def normalize(
    raw: object,
    call_type: str | None,
    *,
    received_at: float,
    batch_context: Mapping[str, Any] | None = None,
    live: bool = True,
) -> dict[str, Any]:
    """The stored form of one call; raises EventError saying what Segment requires.

    `call_type` is the route's type (`/v1/track` -> "track"), or None for a batch item, whose own `type`
    is used. `batch_context` is the batch envelope (its `context`, `integrations` and `sentAt` apply to every
    item). `received_at` is the server's Unix time of arrival (or of reading, when not `live`). `live` is
    False for events that were received before (a file replayed): their dates are kept (module docstring).
    """
    if not live and call_type is None and not batch_context:
        recorded = _normalize_recorded(raw, received_at)
        if recorded is not None:
            return recorded
    return _normalize(raw, call_type, received_at, batch_context, live)


def normalize_recorded(
    raw: object, read_at: float, nul_free: bool = False, owned: bool = False
) -> dict[str, Any]:
    """`normalize(raw, None, received_at=read_at, live=False)`: an event of a file replayed (`preview`,
    `send`), whose own `type` says what it is, without the keyword call around the fast path.

    `nul_free` says that no string of `raw` holds a NUL character (the JSON text it was parsed from has no
    `\\u0000` escape, the only way to write one), so the ids and names need no look for it. `owned` says
    that the caller has no further use for `raw` (just parsed): the event may then be `raw` itself,
    completed in place, instead of a copy.
    """
    recorded = _normalize_recorded(raw, read_at, nul_free, owned)
    return recorded if recorded is not None else _normalize(raw, None, read_at, None, False)


# The call types whose requirements `_normalize_recorded` checks (group and alias take the general path).
_COMMON_TYPES = frozenset({"track", "identify", "page", "screen"})


def _normalize_recorded(
    raw: object, read_at: float, nul_free: bool = False, owned: bool = False
) -> dict[str, Any] | None:
    """`normalize(raw, None, received_at=read_at, live=False)` for the common shape, or None for anything
    else (a refusal too): then the general path decides, and words the error. `raw` is not modified when
    the result is None, nor at all unless `owned` (see `normalize_recorded`, as for `nul_free`).

    Same rules as the general path, but only for string ids and names, object fields that are objects or
    null, no `writeKey` and no batch envelope, so each is one test. Every test comes before the first
    change. Types are tested with `type(value) is ...`, the cheapest test on Python 3.11 (this runs per
    line).
    """
    if type(raw) is not dict:
        return None
    get = raw.get
    call_type = get("type")
    if type(call_type) is not str or call_type not in _COMMON_TYPES or "writeKey" in raw:
        return None
    for key in _OBJECT_FIELDS:
        value = get(key)
        if value is not None and type(value) is not dict:
            return None
    user_id = get("userId")
    if type(user_id) is not str or not user_id:
        if user_id is not None and user_id != "":
            return None
        anonymous_id = get("anonymousId")  # only read (and coerced) without a userId
        if type(anonymous_id) is not str or not anonymous_id:
            return None
    if call_type == "track":
        name = get("event")
        if type(name) is not str or not name:
            return None
    elif call_type != "identify":  # page, screen
        name = get("name")
        if name is not None and type(name) is not str:
            return None
    if not nul_free:
        for key in _TEXT_FIELDS:
            value = get(key)
            if type(value) is str and "\x00" in value:
                return None
    message_id = get("messageId")
    new_id = message_id is None or message_id == ""
    if not new_id and (type(message_id) is not str or len(message_id) > MAX_MESSAGE_ID_LENGTH):
        return None
    # _keep_timestamps, with the dates checked by `_is_date`.
    received = get("receivedAt")
    if received is not None and not _is_date(received):
        return None
    sent, original = get("sentAt"), get("originalTimestamp")
    if (sent is not None and not _is_date(sent)) or (original is not None and not _is_date(original)):
        return None
    timestamp = get("timestamp")
    if timestamp is not None and not _is_date(timestamp):
        return None
    # Accepted: what is missing is filled in, in the general path's order (the keys keep its order).
    event: dict[str, Any] = raw if owned else raw.copy()
    if new_id:
        event["messageId"] = str(uuid.uuid4())
    if received is None:
        received = event["receivedAt"] = format_time(read_at)
    if timestamp is None:
        event["timestamp"] = original if original is not None else received
    return event


def _normalize(
    raw: object,
    call_type: str | None,
    received_at: float,
    batch_context: Mapping[str, Any] | None,
    live: bool,
) -> dict[str, Any]:
    """The general path of `normalize`: every shape, every refusal with its code and message."""
    if not isinstance(raw, dict):
        raise EventError("invalid_event", "an event must be a JSON object")
    event: dict[str, Any] = dict(raw)
    event.pop("writeKey", None)
    if call_type is None:
        call_type = event.get("type")
        if not isinstance(call_type, str) or call_type not in CALL_TYPES:
            raise EventError(
                "invalid_type",
                "type must be one of track, identify, page, screen, group, alias"
                + ("" if call_type is None else f" (got {str(call_type)[:32]!r})"),
            )
    event["type"] = call_type

    if batch_context:
        for key in ("context", "integrations"):
            merged = _merged(batch_context.get(key), event.get(key))
            if merged is not None:
                event[key] = merged
        if event.get("sentAt") is None and batch_context.get("sentAt") is not None:
            event["sentAt"] = batch_context["sentAt"]

    for key in _OBJECT_FIELDS:
        value = event.get(key)
        if value is not None and not isinstance(value, dict):
            raise EventError("invalid_field", f"{key} must be an object")

    user_id = _identifier(event, "userId")
    if user_id is None and _identifier(event, "anonymousId") is None:
        raise EventError("missing_identity", f"{call_type} calls need a userId or an anonymousId")
    if call_type == "track":
        name = event.get("event")
        if isinstance(name, int | float) and not isinstance(name, bool):
            name = event["event"] = js_number(name)
        if not isinstance(name, str) or not name:
            raise EventError("missing_event", "track calls need an event name (a non-empty string)")
    elif call_type == "group":
        if _identifier(event, "groupId") is None:
            raise EventError("missing_group_id", "group calls need a groupId")
    elif call_type == "alias":
        if _identifier(event, "previousId") is None:
            raise EventError("missing_previous_id", "alias calls need a previousId")
        if user_id is None:
            raise EventError("missing_identity", "alias calls need a userId")
    elif call_type in ("page", "screen"):
        name = event.get("name")
        if name is not None and not isinstance(name, str):
            raise EventError("invalid_field", "name must be a string")

    for key in _TEXT_FIELDS:
        value = event.get(key)
        if isinstance(value, str) and "\x00" in value:
            raise EventError(
                "invalid_field", f"{key} contains a NUL character (\\u0000), which cannot be stored"
            )

    message_id = event.get("messageId")
    if message_id is None or message_id == "":
        event["messageId"] = str(uuid.uuid4())
    else:
        if not isinstance(message_id, str):
            raise EventError("invalid_field", "messageId must be a string")
        if len(message_id) > MAX_MESSAGE_ID_LENGTH:
            raise EventError("invalid_field", f"messageId must be at most {MAX_MESSAGE_ID_LENGTH} characters")

    if live:
        _set_timestamps(event, received_at)
    else:
        _keep_timestamps(event, received_at)
    return event


def _keep_timestamps(event: dict[str, Any], read_at: float) -> None:
    """The dates of an event received before: checked and kept; only missing ones are filled in."""
    received = event.get("receivedAt")
    if received is None:
        event["receivedAt"] = format_time(read_at)
    else:
        parse_time(received, "receivedAt")
    for field in ("sentAt", "originalTimestamp"):
        if event.get(field) is not None:
            parse_time(event[field], field)
    timestamp = event.get("timestamp")
    if timestamp is None:
        original = event.get("originalTimestamp")
        event["timestamp"] = original if original is not None else event["receivedAt"]
    else:
        parse_time(timestamp, "timestamp")


def _set_timestamps(event: dict[str, Any], received_at: float) -> None:
    """Set receivedAt and the skew-corrected timestamp (see the module docstring)."""
    event["receivedAt"] = format_time(received_at)
    original = event.get("originalTimestamp")
    field = "originalTimestamp"
    if original is None:
        original, field = event.get("timestamp"), "timestamp"
    sent_at = event.get("sentAt")
    sent = None if sent_at is None else parse_time(sent_at, "sentAt")
    if original is None:
        event["timestamp"] = event["receivedAt"]
        return
    client_time = parse_time(original, field)
    event["originalTimestamp"] = original
    corrected = client_time if sent is None else received_at - (sent - client_time)
    if not _MIN_SECONDS <= corrected <= _MAX_SECONDS:
        raise EventError(
            "invalid_timestamp",
            f"{field} corrected for the clock skew of sentAt falls outside years 1-9999",
        )
    event["timestamp"] = format_time(corrected)


def delivery_enabled(event: Mapping[str, Any], destination: str = DESTINATION) -> bool:
    """Whether the event's `integrations` object lets it reach `destination`.

    `{destination: false}` blocks it; `{"All": false}` blocks it unless `{destination: true}` (or a settings
    object, which counts as enabled). Keys are case sensitive, as in Segment.
    """
    integrations = event.get("integrations")
    if not isinstance(integrations, dict):
        return True
    own = integrations.get(destination)
    if own is not None:
        return own is not False
    return integrations.get("All") is not False
