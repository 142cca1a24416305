"""allauth links identities inside its own flows (sign-in by a verified email, the connections page)
and unlinks them there, with no adapter hook after the write: its two signals are the one place
every link and unlink passes, so the audit is recorded from them."""

from allauth.socialaccount.signals import social_account_added, social_account_removed
from django.dispatch import receiver

from tenants.social.services import identity_link_record, identity_unlink_record


@receiver(social_account_added, dispatch_uid="tenants.identity.linked")
def _linked(sender, request, sociallogin, **kwargs):
    identity_link_record(account=sociallogin.account)


@receiver(social_account_removed, dispatch_uid="tenants.identity.unlinked")
def _unlinked(sender, request, socialaccount, **kwargs):
    identity_unlink_record(account=socialaccount)
