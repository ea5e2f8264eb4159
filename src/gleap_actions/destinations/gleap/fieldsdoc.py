"""docs/actions.md, generated from the action definitions: every field of every action.

`python -m gleap_actions.destinations.gleap.fieldsdoc > docs/actions.md` (what `scripts/actions-doc` runs);
tests/gleap/test_fieldsdoc.py fails when the committed file differs from what this renders. `SENT_AS` says
where each field's value ends up in the Gleap request; a field missing from it fails that test too.
"""

from __future__ import annotations

from typing import Any

import orjson

from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.engine.fields import Field

SENT_AS: dict[str, dict[str, str]] = {
    "trackEvent": {
        "eventName": "`events[].name` (track calls; page and screen calls are sent as `pageView`)",
        "type": "not sent: page and screen calls become `pageView` events",
        "pageUrl": "`events[].data.page` of a page call's `pageView`",
        "date": "`events[].date`",
        "userId": "`events[].userId`",
        "data": "`events[].data` (track calls)",
    },
    "identifyContact": {
        "userId": "`userId`",
        "firstName": "`name` (first and last name joined)",
        "lastName": "`name` (first and last name joined)",
        "email": "`email`",
        "phone": "`phone`",
        "companyName": "`companyName`",
        "companyId": "`companyId`",
        "lang": "`lang`",
        "plan": "`plan`",
        "value": "`value`",
        "lastPageView": "`lastPageView.page` (with `lastPageView.date` = lastActivity)",
        "createdAt": "`createdAt`",
        "lastActivity": "`lastActivity`",
        "customAttributes": "top-level contact keys (except those named like the fields above)",
    },
}

_HEADER = """# Actions and their fields

Generated from the action definitions (`src/gleap_actions/destinations/gleap/actions.py`) by
`scripts/actions-doc`; do not edit by hand. A mapping in the config file (`mappings[].mapping`) may set
only these keys (`gleap-actions config validate` reports any other, with the closest field name); a field
left out gets its default mapping.
"""


def _type(field: Field) -> str:
    text = field.type + ("[]" if field.multiple else "")
    if field.format:
        text += f" ({field.format})"
    if field.choices:
        text += ": " + " \\| ".join(str(choice) for choice in field.choices)
    return text


def _default(value: Any) -> str:
    if value is None:
        return "none"
    return "`" + orjson.dumps(value).decode().replace("|", "\\|") + "`"


def render() -> str:
    """The whole of docs/actions.md."""
    parts = [_HEADER]
    for name, action in ACTIONS.items():
        parts.append(f"\n## {name}: {action.title}\n\n{action.description.rstrip('.')}.")
        parts.append(f" Default trigger: `{action.default_trigger}`.")
        parts.append(" Batched: " + ("yes." if action.perform_batch is not None else "no."))
        if action.perform_merged is not None:
            parts.append(
                " Coalesced: yes (a user's identifies waiting together are sent as one merged request;"
                " the mapping option `coalesce`)."
            )
        parts.append("\n\n")
        parts.append("| key | type | required | default mapping | sent to Gleap as | description |\n")
        parts.append("| --- | --- | --- | --- | --- | --- |\n")
        for key, field in action.fields.items():
            sent = SENT_AS[name][key]
            description = field.description.replace("|", "\\|")
            cells = [f"`{key}`", _type(field), "yes" if field.required else "no", _default(field.default)]
            parts.append("| " + " | ".join([*cells, sent, description]) + " |\n")
    return "".join(parts)


if __name__ == "__main__":
    print(render(), end="")
