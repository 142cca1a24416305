"""A limit on customers' refused proposals (POST /api/v1/commands/propose, the portal's "Request an
action"): each refusal of another tenant's miner or a site not theirs is an audit event, so a client
looping on one would write the audit chain without end. At most PROPOSAL_REFUSAL_RATE refusals per
user in a fixed window (core.api.throttling, counted in Redis across workers); past it every
proposal of that user is answered 429 RATE_LIMITED with Retry-After until the window ends, before
anything is looked up, and is counted in command_proposals_refused_total{outcome="throttled"}
instead of audited. Proposals that are accepted count for nothing."""

import math

import structlog
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled

from control.metrics import command_proposals_refused_total
from core.api.throttling import FixedWindowThrottle

logger = structlog.get_logger(__name__)


class ProposalsThrottled(Throttled):
    """429 RATE_LIMITED with Retry-After (core.api.exceptions); the portal shows it as a message."""

    default_detail = "too many refused proposals"

    def __init__(self, wait: float):
        self.retry_in = max(1, math.ceil(wait))
        super().__init__(wait=self.retry_in, detail=f"too many refused proposals: retry in {self.retry_in} s")


class ProposalRefusalThrottle(FixedWindowThrottle):
    scope = "proposal_refusals"
    rate_setting = "PROPOSAL_REFUSAL_RATE"

    def _user_key(self, user) -> str | None:
        if not self.rate or user is None or user.pk is None:
            return None
        return self._window(f"throttle:{self.scope}:{user.pk}")

    def full(self, user) -> bool:
        """Do the user's refusals already fill this window? (Reads, counts nothing.)"""
        key = self._user_key(user)
        if key is None:
            return False
        try:
            return (self.cache.get(key) or 0) >= self.num_requests
        except RedisError:
            logger.warning(self.unavailable_event, scope=self.scope)
            return False

    def count(self, user) -> bool:
        """Count one refusal; False when it is beyond the limit."""
        key = self._user_key(user)
        if key is None:
            return True
        try:
            return self._count(key, timeout=math.ceil(self.retry_after) + 2) <= self.num_requests
        except RedisError:
            logger.warning(self.unavailable_event, scope=self.scope)
            return True


def proposal_gate(user) -> None:
    """Before a customer's proposal: ProposalsThrottled once their refusals fill the window."""
    throttle = ProposalRefusalThrottle()
    if throttle.full(user):
        command_proposals_refused_total.labels(outcome="throttled").inc()
        raise ProposalsThrottled(throttle.wait())


def proposal_refusal_count(user) -> None:
    """A customer's proposal was refused: count it. Within the limit the caller goes on to audit and
    answer the refusal; beyond it (parallel tries that all passed the gate) ProposalsThrottled, and
    nothing is audited."""
    throttle = ProposalRefusalThrottle()
    if not throttle.count(user):
        command_proposals_refused_total.labels(outcome="throttled").inc()
        raise ProposalsThrottled(throttle.wait())
    command_proposals_refused_total.labels(outcome="refused").inc()
