from .collector_status import CollectorStatus
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
from .consent import ConsentPolicy
from .curtailment import CURTAILMENT_TRANSITIONS, Curtailment, CurtailmentState
from .safety import EdgeSafetyEvent
from .signing import CommandSigningKey

__all__ = [
    "ACTIVE_STATES",
    "CURTAILMENT_TRANSITIONS",
    "FINAL_STATES",
    "LEASED_STATES",
    "TRANSITIONS",
    "Command",
    "CommandAck",
    "CommandAttempt",
    "CommandState",
    "CommandSigningKey",
    "CommandType",
    "CollectorStatus",
    "ConsentPolicy",
    "EdgeSafetyEvent",
    "Curtailment",
    "CurtailmentState",
    "Outcome",
    "PriorityClass",
    "wire_id_of",
]
