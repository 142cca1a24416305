"""Audit of the identities (Google, Microsoft) linked to a user."""

from audit.services import Actor, audit_record


def _payload(account) -> dict:
    return {"provider": account.provider, "uid": account.uid, "user": account.user.get_username()}


def identity_link_record(*, account) -> None:
    audit_record(
        actor=Actor.user(account.user), action="tenants.identity.linked", entity=account.user, payload=_payload(account)
    )


def identity_unlink_record(*, account) -> None:
    audit_record(
        actor=Actor.user(account.user),
        action="tenants.identity.unlinked",
        entity=account.user,
        payload=_payload(account),
    )
