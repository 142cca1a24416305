"""Personal API tokens (SPEC §3): a person's credential for scripts and curl.

Minted and hashed like collector tokens (tenants.services.token_digest), with their own prefix
`hip_` so that neither kind is ever taken for the other. A token has no scope of its own: the
request is its owner's, so tenants.scoping reads the owner's grants live on every request."""

import datetime as dt
import hmac
import ipaddress
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Actor, audit_record
from core.errors import DomainError, InvalidParameter
from tenants.models import PersonalToken
from tenants.scoping import object_get
from tenants.services import token_digest

PERSONAL_TOKEN_PREFIX = "hip_"
PREFIX_LENGTH = 12  # "hip_" and 8 random characters: 48 bits, unique, the lookup key
LAST_USED_RESOLUTION_SEC = 60  # last_used_at moves at most once a minute per token


class TokenRefused(DomainError):
    """A presented personal token that does not authenticate: 401 with one of the codes below."""

    status_code = 401
    error_code = "TOKEN_INVALID"


TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED = "TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_REVOKED"


def _payload(token: PersonalToken) -> dict:
    # Never the secret nor its hash: the prefix is how people tell tokens apart.
    return {
        "name": token.name,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        "read_only": token.read_only,
        "expires_at": token.expires_at,
    }


@transaction.atomic
def personal_token_create(
    *, actor: Actor, user, name: str, expires_in_days: int, read_only: bool = False, not_after=None
) -> tuple[PersonalToken, str]:
    """Mint a token for `user`; the plaintext is returned once and never stored.

    `not_after` caps the expiry: a token minted with another token lives no longer than that one."""
    name = (name or "").strip()
    if not name or len(name) > 128:
        raise InvalidParameter("a token needs a name of 1 to 128 characters", field="name")
    limit = settings.PERSONAL_TOKEN_MAX_DAYS
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int) or not 1 <= expires_in_days <= limit:
        raise InvalidParameter(
            f"expires_in_days is required, from 1 to {limit}", error_code="INVALID_EXPIRY", field="expires_in_days"
        )
    expires_at = timezone.now() + dt.timedelta(days=expires_in_days)
    if not_after is not None and expires_at > not_after:
        expires_at = not_after
    for attempt in range(3):
        plaintext = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = PersonalToken.objects.create(
                    user=user,
                    name=name,
                    prefix=plaintext[:PREFIX_LENGTH],
                    token_hash=token_digest(plaintext),
                    read_only=read_only,
                    expires_at=expires_at,
                )
            break
        except IntegrityError:
            # Two tokens drew the same 48-bit prefix: draw again.
            if attempt == 2:
                raise
    audit_record(actor=actor, action="tenants.token.created", entity=token, payload=_payload(token))
    return token, plaintext


@transaction.atomic
def personal_token_revoke(*, actor: Actor, token: PersonalToken) -> PersonalToken:
    """Revoke at once (the next request with it answers 401 TOKEN_REVOKED). Revoking twice is a no-op."""
    token = PersonalToken.objects.select_for_update(of=("self",)).select_related("user").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="tenants.token.revoked", entity=token, payload=_payload(token))
    return token


def personal_token_lookup(plaintext: str) -> PersonalToken:
    """The token for a presented secret, with its user; TokenRefused (401) otherwise."""
    if not plaintext.startswith(PERSONAL_TOKEN_PREFIX) or len(plaintext) <= PREFIX_LENGTH:
        raise TokenRefused("unknown personal token", error_code=TOKEN_INVALID)
    token = PersonalToken.objects.select_related("user").filter(prefix=plaintext[:PREFIX_LENGTH]).first()
    if token is None or not hmac.compare_digest(token.token_hash, token_digest(plaintext)):
        raise TokenRefused("unknown personal token", error_code=TOKEN_INVALID)
    if token.revoked_at is not None:
        raise TokenRefused("this personal token was revoked", error_code=TOKEN_REVOKED)
    if token.expires_at <= timezone.now():
        raise TokenRefused("this personal token has expired", error_code=TOKEN_EXPIRED)
    return token


def _clean_ip(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return None


def personal_token_touch(*, token: PersonalToken, ip: str) -> None:
    """Keep last_used_at (at most once a minute) and last_used_ip; an IP other than the last one is audited."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= LAST_USED_RESOLUTION_SEC:
        # Conditional UPDATE: concurrent requests with one token neither queue on the row nor move it twice.
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - dt.timedelta(seconds=LAST_USED_RESOLUTION_SEC))
        PersonalToken.objects.filter(stale, pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    address = _clean_ip(ip)
    if address is None or address == token.last_used_ip:
        return
    with transaction.atomic():
        previous = token.last_used_ip
        # Only the request that changes the row records the event, however many race here.
        changed = PersonalToken.objects.filter(pk=token.pk).exclude(last_used_ip=address).update(last_used_ip=address)
        token.last_used_ip = address
        if changed:
            audit_record(
                actor=Actor.user(token.user),
                action="tenants.token.new_ip",
                entity=token,
                payload={"prefix": token.prefix, "name": token.name, "ip": address, "previous_ip": previous},
            )


def personal_tokens_of(user):
    """The user's own tokens: nobody lists or revokes another person's (operators included)."""
    if user is None or not user.is_authenticated or getattr(user, "pk", None) is None:
        return PersonalToken.objects.none()
    return PersonalToken.objects.filter(user=user)


def personal_token_get(user, pk) -> PersonalToken:
    """One of the user's own tokens, or 403 FORBIDDEN (another person's and a missing id alike)."""
    return object_get(personal_tokens_of(user).select_related("user"), pk)
