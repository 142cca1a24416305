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
    "Outcome",
    "PriorityClass",
    "wire_id_of",
]
