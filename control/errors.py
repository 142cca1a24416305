"""Every error the command queue raises, in one place: each carries its HTTP status and the
`error_code` the API answers with (SPEC §6, §11)."""

from core.errors import DomainError, Forbidden


class InvalidParams(DomainError):
    status_code = 400
    error_code = "INVALID_PARAMS"

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}", field=field_name)


class UnsupportedBySite(DomainError):
    status_code = 422
    error_code = "UNSUPPORTED_BY_SITE"


class SelfApproval(Forbidden):
    error_code = "SELF_APPROVAL"


class MinerLocked(DomainError):
    status_code = 409
    error_code = "MINER_LOCKED"


class ApprovalExpired(DomainError):
    status_code = 409
    error_code = "APPROVAL_EXPIRED"


class RollbackUnavailable(DomainError):
    status_code = 409
    error_code = "ROLLBACK_UNAVAILABLE"


class DedupeConflict(DomainError):
    status_code = 409
    error_code = "DEDUPE_CONFLICT"


class InvalidTransition(DomainError):
    status_code = 409
    error_code = "INVALID_TRANSITION"


class RateLimited(DomainError):
    status_code = 429
    error_code = "RATE_LIMITED"


class BlastRadiusExceeded(DomainError):
    status_code = 409
    error_code = "BLAST_RADIUS_EXCEEDED"


class CurtailmentInvalid(DomainError):
    status_code = 400
    error_code = "CURTAILMENT_INVALID"

    def __init__(self, field_name: str, message: str, **extra):
        super().__init__(f"{field_name}: {message}", field=field_name, **extra)


class NotYours(DomainError):
    """Another tenant's command or miner, to a customer: answered as if it did not exist."""

    status_code = 404
    error_code = "NOT_FOUND"


class BatchNotDecidable(DomainError):
    """A batch decided all or none: one of its commands cannot take the decision, so none did."""

    status_code = 409
    error_code = "BATCH_NOT_DECIDABLE"


class ProposalNotAllowed(Forbidden):
    """A customer's proposal of a type their tenant's consent policy does not list (customer_types)."""

    error_code = "PROPOSAL_NOT_ALLOWED"
