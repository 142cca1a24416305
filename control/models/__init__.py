from .commands import (
    ACTIVE_STATES,
    FINAL_STATES,
    LEASED_STATES,
    TRANSITIONS,
    Command,
    CommandAck,
    CommandAttempt,
    CommandState,
    CommandType,
    Outcome,
    PriorityClass,
    wire_id_of,
)
from .safety import EdgeSafetyEvent
from .signing import CommandSigningKey

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "LEASED_STATES",
    "TRANSITIONS",
    "Command",
    "CommandAck",
    "CommandAttempt",
    "CommandState",
    "CommandSigningKey",
    "CommandType",
    "EdgeSafetyEvent",
    "Outcome",
    "PriorityClass",
    "wire_id_of",
]
