"""Google and Microsoft sign-in over OpenID Connect (allauth.socialaccount), invite-only."""
