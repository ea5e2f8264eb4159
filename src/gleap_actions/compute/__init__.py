"""Audiences and computed traits computed as events arrive, and their changes delivered as identify calls.

`Computer` (computer.py) is a stage fed from the queue like the router; see docs/architecture.md.
"""

from gleap_actions.compute.computer import Computer

__all__ = ["Computer"]
