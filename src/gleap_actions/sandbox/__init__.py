"""A local emulator of the Gleap server API with fault injection.

`Sandbox` (async) and `SandboxThread` (background thread) run a real HTTP server on 127.0.0.1 speaking
Gleap's `/admin/*` API; `state` shows what it received and `Faults` describes how it misbehaves.
"""

from gleap_actions.sandbox.faults import Faults, FaultSpecError, Outage
from gleap_actions.sandbox.runner import DEFAULT_API_TOKEN, Sandbox
from gleap_actions.sandbox.state import RecordedRequest, SandboxState, SandboxStats
from gleap_actions.sandbox.thread import SandboxThread

__all__ = [
    "DEFAULT_API_TOKEN",
    "FaultSpecError",
    "Faults",
    "Outage",
    "RecordedRequest",
    "Sandbox",
    "SandboxState",
    "SandboxStats",
    "SandboxThread",
]
