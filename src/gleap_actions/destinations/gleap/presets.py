"""Ready-made mappings: Segment's two Gleap presets and the optional event-name normalisation.

Each preset is a plain mapping-config dict, the shape of one entry of the config file's `mappings:` list.
With no config file the two enabled presets are the whole configuration.
"""

from __future__ import annotations

from typing import Any

from gleap_actions.destinations.gleap.actions import (
    EVENT_NAME_MAPPING,
    IDENTIFY_CONTACT,
    IDENTIFY_TRIGGER,
    TRACK_EVENT,
    TRACK_TRIGGER,
)

# Segment's field help promises "periods and dollar signs in event names are replaced with hyphens" but
# its code never does it (the text was copied from the Intercom destination). Opt in with this preset, in
# place of "Track Event": `checkout.step$done` -> `checkout-step-done`.
NORMALISED_EVENT_NAME_MAPPING: dict[str, Any] = {
    "@replace": {
        "pattern": ".",
        "replacement": "-",
        "pattern2": "$",
        "replacement2": "-",
        "value": EVENT_NAME_MAPPING,
    }
}

PRESETS: tuple[dict[str, Any], ...] = (
    {
        "name": "Track Event",
        "action": TRACK_EVENT.name,
        "trigger": TRACK_TRIGGER,
        "mapping": dict(TRACK_EVENT.default_mapping),
        "enabled": True,
        "batching": {"enabled": True, "size": 100, "bytes": 1_000_000},
    },
    {
        "name": "Identify Contact",
        "action": IDENTIFY_CONTACT.name,
        "trigger": IDENTIFY_TRIGGER,
        "mapping": dict(IDENTIFY_CONTACT.default_mapping),
        "enabled": True,
    },
    {
        "name": "Track Event (normalised event names)",
        "action": TRACK_EVENT.name,
        "trigger": TRACK_TRIGGER,
        "mapping": {**TRACK_EVENT.default_mapping, "eventName": NORMALISED_EVENT_NAME_MAPPING},
        "enabled": False,
    },
)
"""The presets, in config-file shape: name, action, trigger, mapping, enabled and (for track) batching."""
