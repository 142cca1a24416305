"""django-allauth adapter: sign-up is invite-only, and every login is audited."""

from allauth.account.adapter import DefaultAccountAdapter

from tenants.services import user_login_record


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        from tenants.invitations import invitation_from_session

        return invitation_from_session(request) is not None

    def login(self, request, user):
        super().login(request, user)
        user_login_record(user=user, ip=self.get_client_ip(request) or "")

    def save_user(self, request, user, form, commit=True):
        from tenants.invitations import invitation_accept, invitation_from_session

        invitation = invitation_from_session(request)
        user = super().save_user(request, user, form, commit=commit)
        if invitation is not None and commit:
            invitation_accept(invitation=invitation, user=user, request=request)
        return user

    def clean_email(self, email):
        from django import forms

        from tenants.invitations import invitation_from_session

        email = super().clean_email(email)
        invitation = invitation_from_session(self.request) if self.request else None
        if invitation is not None and email.strip().lower() != invitation.email:
            raise forms.ValidationError("Sign up with the email address the invitation was sent to.")
        return email
