"""The Gleap destination's two actions, declared like Segment's: fields, default trigger, perform.

* `trackEvent` -> `POST /admin/track {"events": [...]}`; has a batch form (Gleap's endpoint takes a list).
  page and screen calls become `pageView` events with `data: {page: ...}`, as Gleap's own SDK sends them.
* `identifyContact` -> `POST /admin/identify` with a flat contact; no batch form, but identifies of one
  contact waiting together are merged into one request (`perform_identify_merged`).

Bodies follow Segment's key order and rules (those of Segment's own implementation) with the
deliberate differences listed in docs/compatibility/destination.md.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gleap_actions.destinations.gleap.requests import gleap_request
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Action, Payload, Request
from gleap_actions.engine.fields import Field, default_mapping

log = logging.getLogger(__name__)

TRACK_TRIGGER = 'type = "track" or type = "page" or type = "screen"'
IDENTIFY_TRIGGER = 'type = "identify"'
METADATA_KEY_LIMIT = 10
"""Gleap's documented metadata limit per event, per Segment's field help (we send all keys and warn)."""

EVENT_NAME_MAPPING: dict[str, Any] = {
    "@if": {"exists": {"@path": "$.event"}, "then": {"@path": "$.event"}, "else": {"@path": "$.name"}}
}

TRACK_FIELDS: dict[str, Field] = {
    "eventName": Field(
        "Event Name",
        "string",
        description="The name of the event that occurred (a page or screen call's name). Sent unchanged; the "
        "event-name normalisation preset replaces periods and dollar signs with hyphens.",
        default=EVENT_NAME_MAPPING,
    ),
    "type": Field(
        "Event Type",
        "string",
        description="The type of the event: page and screen calls become Gleap `pageView` events.",
        required=True,
        choices=("track", "page", "screen"),
        default={"@path": "$.type"},
        hidden=True,
    ),
    "pageUrl": Field(
        "Event Page URL",
        "string",
        description="The URL a page call was made on, sent as the `pageView` page. Unused for track and "
        "screen calls; an unusable value is ignored rather than rejecting the event.",
        default={"@path": "$.context.page.url"},
        hidden=True,
        drop_invalid=True,
    ),
    "date": Field(
        "Event Timestamp",
        "datetime",
        description="The time the event took place. Sent to Gleap as ISO 8601 UTC with milliseconds.",
        required=True,
        default={"@path": "$.timestamp"},
    ),
    "userId": Field(
        "User ID",
        "string",
        description="Your identifier for the user who performed the event. User ID is required.",
        required=True,
        default={"@path": "$.userId"},
    ),
    "data": Field(
        "Event Metadata",
        "object",
        description="Optional metadata describing the event, sent in full. Gleap may use only the first ten "
        "keys; events with more are counted and logged.",
        default={"@path": "$.properties"},
    ),
}

IDENTIFY_FIELDS: dict[str, Field] = {
    "userId": Field(
        "User ID",
        "string",
        "A unique identifier for the contact.",
        required=True,
        default={"@path": "$.userId"},
    ),
    "firstName": Field(
        "First name", "string", "The contact's first name.", default={"@path": "$.properties.first_name"}
    ),
    "lastName": Field(
        "Last name", "string", "The contact's last name.", default={"@path": "$.properties.last_name"}
    ),
    "email": Field(
        "Email Address",
        "string",
        "The contact's email address.",
        format="email",
        default={"@path": "$.traits.email"},
    ),
    "phone": Field(
        "Phone Number", "string", "The contact's phone number.", default={"@path": "$.traits.phone"}
    ),
    "companyName": Field(
        "Company Name", "string", "The contact's company name.", default={"@path": "$.traits.company.name"}
    ),
    "companyId": Field(
        "Company ID", "string", "The contact's company ID.", default={"@path": "$.traits.company.id"}
    ),
    "lang": Field("Language", "string", "The user's language.", default={"@path": "$.context.locale"}),
    "plan": Field(
        "Subscription Plan", "string", "The user's subscription plan.", default={"@path": "$.traits.plan"}
    ),
    "value": Field("User Value", "number", "The user's value."),
    "lastPageView": Field(
        "Last Page View",
        "string",
        "The page where the contact was last seen.",
        default={"@path": "$.context.page.url"},
    ),
    "createdAt": Field("Signed Up Timestamp", "datetime", "The time specified for when a contact signed up."),
    "lastActivity": Field(
        "Last Seen Timestamp",
        "datetime",
        "The time when the contact was last seen.",
        default={"@path": "$.timestamp"},
    ),
    "customAttributes": Field(
        "Custom Attributes",
        "object",
        "The custom attributes which are set for the contact (sent as top-level contact properties).",
        default={"@path": "$.traits"},
    ),
}

# The contact keys taken from fields, in Segment's body order; custom attributes with these names (or
# firstName/lastName) are not forwarded.
CONTACT_KEYS = (
    "userId",
    "email",
    "phone",
    "companyName",
    "companyId",
    "lang",
    "plan",
    "value",
    "createdAt",
    "lastActivity",
)
_NOT_FORWARDED = frozenset((*CONTACT_KEYS, "firstName", "lastName"))


class MetadataLimitCounter:
    """Counts track events with more metadata keys than Gleap documents; logs at most once a minute."""

    def __init__(self, log_interval: float = 60.0) -> None:
        self.count = 0
        self.log_interval = log_interval
        self._logged_at: float | None = None

    def note(self, keys: int) -> None:
        """Record one event with `keys` metadata keys (over the limit)."""
        self.count += 1
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= self.log_interval:
            self._logged_at = now
            log.warning(
                "event=metadata_over_limit keys=%d limit=%d total=%d (all sent; Gleap may ignore extras)",
                keys,
                METADATA_KEY_LIMIT,
                self.count,
            )


metadata_over_limit = MetadataLimitCounter()


def track_event(payload: Payload) -> dict[str, Any]:
    """One Gleap event `{name, date, data, userId}` (absent keys omitted) from a validated payload."""
    kind = payload["type"]
    name = payload.get("eventName")
    event: dict[str, Any]
    if kind == "track":
        event = {} if name is None else {"name": name}
        event["date"] = payload["date"]
        data = payload.get("data")
        if data is not None:
            if len(data) > METADATA_KEY_LIMIT:
                metadata_over_limit.note(len(data))
            event["data"] = data
        event["userId"] = payload["userId"]
        return event
    # page and screen: Gleap's pageView. A screen's page is its name, even when a URL is known.
    page = payload.get("pageUrl") if kind == "page" else None
    if page is None:
        page = name
    return {
        "name": "pageView",
        "date": payload["date"],
        "data": {} if page is None else {"page": page},
        "userId": payload["userId"],
    }


def perform_track(settings: GleapSettings, payload: Payload) -> Request:
    """`POST /admin/track` with one event."""
    return gleap_request(settings, "POST", "/admin/track", {"events": [track_event(payload)]})


def perform_track_batch(settings: GleapSettings, payloads: list[Payload]) -> Request:
    """`POST /admin/track` with every event, in order."""
    return gleap_request(settings, "POST", "/admin/track", {"events": [track_event(p) for p in payloads]})


def contact(payload: Payload) -> dict[str, Any]:
    """The flat Gleap contact for a validated identify payload, in Segment's key order.

    `name` first (first and last name joined; "John" alone, never "John undefined"), then the contact
    fields, then custom attributes not named like a contact field (a `name` trait replaces the built name
    in place), then `lastPageView` as `{page, date}`.
    """
    body: dict[str, Any] = {}
    first, last = payload.get("firstName"), payload.get("lastName")
    if first or last:
        body["name"] = " ".join(part for part in (first, last) if part).strip()
    for key in CONTACT_KEYS:
        if key in payload:
            body[key] = payload[key]
    attributes = payload.get("customAttributes")
    if attributes:
        for key, value in attributes.items():
            if key not in _NOT_FORWARDED:
                body[key] = value
    page = payload.get("lastPageView")
    if page:
        last_view = {"page": page}
        if "lastActivity" in payload:
            last_view["date"] = payload["lastActivity"]
        body["lastPageView"] = last_view
    return body


def perform_identify(settings: GleapSettings, payload: Payload) -> Request:
    """`POST /admin/identify` with the contact."""
    return gleap_request(settings, "POST", "/admin/identify", contact(payload))


def perform_identify_merged(settings: GleapSettings, payloads: list[Payload]) -> Request:
    """`POST /admin/identify` with the contacts of one user's identifies (in event order) merged.

    Gleap updates a contact key by key: a key an identify sends replaces the stored value, a key it
    does not send is kept. Merging the bodies the same way (later keys win, absent ones kept; an object
    value such as `lastPageView` is replaced whole) gives the contact that sending them one by one, in
    order, gives; as events are ordered by timestamp, `lastActivity` and `lastPageView` end as the
    latest event's."""
    body: dict[str, Any] = {}
    for payload in payloads:
        body.update(contact(payload))
    return gleap_request(settings, "POST", "/admin/identify", body)


TRACK_EVENT = Action(
    name="trackEvent",
    title="Track Event",
    fields=TRACK_FIELDS,
    default_trigger=TRACK_TRIGGER,
    perform=perform_track,
    perform_batch=perform_track_batch,
    default_mapping=default_mapping(TRACK_FIELDS),
    description="Submit an event to Gleap.",
)

IDENTIFY_CONTACT = Action(
    name="identifyContact",
    title="Identify Contact",
    fields=IDENTIFY_FIELDS,
    default_trigger=IDENTIFY_TRIGGER,
    perform=perform_identify,
    perform_batch=None,
    default_mapping=default_mapping(IDENTIFY_FIELDS),
    description="Create or update a contact in Gleap",
    perform_merged=perform_identify_merged,
)

ACTIONS: dict[str, Action] = {TRACK_EVENT.name: TRACK_EVENT, IDENTIFY_CONTACT.name: IDENTIFY_CONTACT}
"""The destination's actions by name (the `action` of a configured mapping)."""
