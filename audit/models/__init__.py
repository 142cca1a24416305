from .chain import GENESIS_HASH, AuditChain, AuditCheckpoint, AuditEvent

__all__ = ["GENESIS_HASH", "AuditChain", "AuditCheckpoint", "AuditEvent"]
