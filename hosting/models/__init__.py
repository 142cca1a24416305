from .alerts import Alert, AlertSeverity, AlertSource, AlertState
from .downtime import DowntimeCause, DowntimeInterval, DowntimeWatermark
from .evidence import EvidencePack, EvidencePackStatus
from .maintenance import MaintenanceWindow
from .work_orders import (
    WORK_ORDER_TRANSITIONS,
    WorkOrder,
    WorkOrderComment,
    WorkOrderEvent,
    WorkOrderPriority,
    WorkOrderSource,
    WorkOrderStatus,
)

__all__ = [
    "WORK_ORDER_TRANSITIONS",
    "Alert",
    "AlertSeverity",
    "AlertSource",
    "AlertState",
    "DowntimeCause",
    "DowntimeInterval",
    "DowntimeWatermark",
    "EvidencePack",
    "EvidencePackStatus",
    "MaintenanceWindow",
    "WorkOrder",
    "WorkOrderComment",
    "WorkOrderEvent",
    "WorkOrderPriority",
    "WorkOrderSource",
    "WorkOrderStatus",
]
