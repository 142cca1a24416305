"""Identity settings (django-allauth: accounts, MFA, lockout, Google and Microsoft sign-in), read
into hashinsight.settings. Every knob comes from the environment (see .env.example)."""

from hashinsight.settings_env import DEBUG, TESTING, _bool, _int, env

# --- identity (django-allauth) ---------------------------------------------------------------
SITE_ID = 1
LOGIN_URL = "account_login"
# "/" sends operators to the NOC console and customers to their own page.
LOGIN_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "tenants.accounts.AccountAdapter"
# Proxies in front of the app whose X-Forwarded-For allauth trusts for per-IP login limits. Default 0.
ALLAUTH_TRUSTED_PROXY_COUNT = _int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = False
# Failed-login throttling (allauth) per IP; counters live in the shared Redis cache so they hold
# across workers. The per-account limit is the lockout below (tenants.lockout), which is audited.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="10/m/ip"),
    "login": env.str("LOGIN_RATE_LIMIT", default="30/m/ip"),
}
# Lockout: LOGIN_LOCKOUT_FAILURES failed logins for one account (or LOGIN_LOCKOUT_IP_FAILURES from one
# address) within LOGIN_LOCKOUT_WINDOW_MIN lock it for LOGIN_LOCKOUT_MINUTES (0 failures = off).
LOGIN_LOCKOUT_FAILURES = _int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_IP_FAILURES = _int("LOGIN_LOCKOUT_IP_FAILURES", default=50)
LOGIN_LOCKOUT_WINDOW_MIN = _int("LOGIN_LOCKOUT_WINDOW_MIN", default=15)
LOGIN_LOCKOUT_MINUTES = _int("LOGIN_LOCKOUT_MINUTES", default=15)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Anyone who can create, approve or execute commands must enrol TOTP and pass it at every login.
# Off under pytest by default (most tests sign operators in with force_login); the MFA tests turn it on.
MFA_REQUIRED_FOR_OPERATORS = _bool("MFA_REQUIRED_FOR_OPERATORS", default=not (DEBUG or TESTING))
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="HashInsight")
# allauth refuses MFA to an unverified address (someone signing up with another's email could lock
# its owner out). Sign-up here is by an invitation sent to that address or a verified social email.
MFA_ALLOW_UNVERIFIED_EMAIL = True

# Google and Microsoft sign-in (OpenID Connect). A provider whose client id is unset is not offered.
# Invite-only holds: a verified email must match an existing user or a pending invitation.
SOCIALACCOUNT_ADAPTER = "tenants.social.adapter.SocialAccountAdapter"
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
# Microsoft needs the directory (tenant) id: the ID token's issuer is checked against it.
MICROSOFT_OIDC_TENANT = env.str("MICROSOFT_OIDC_TENANT", default="")
_MICROSOFT_SERVER_URL = env.str("MICROSOFT_OIDC_SERVER_URL", default="")
OIDC_PROVIDERS = {
    "google": {
        "name": "Google",
        "client_id": env.str("GOOGLE_OIDC_CLIENT_ID", default=""),
        "secret": env.str("GOOGLE_OIDC_CLIENT_SECRET", default=""),
        "server_url": env.str("GOOGLE_OIDC_SERVER_URL", default="") or "https://accounts.google.com",
    },
    "microsoft": {
        "name": "Microsoft",
        # Without a tenant (or an explicit issuer URL) there is no issuer to check: not offered.
        "client_id": env.str("MICROSOFT_OIDC_CLIENT_ID", default="")
        if (MICROSOFT_OIDC_TENANT or _MICROSOFT_SERVER_URL)
        else "",
        "secret": env.str("MICROSOFT_OIDC_CLIENT_SECRET", default=""),
        "server_url": _MICROSOFT_SERVER_URL or f"https://login.microsoftonline.com/{MICROSOFT_OIDC_TENANT}/v2.0",
    },
}
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        # allauth's provider, with the ID token's signature always checked (tenants/social/provider.py).
        "provider_class": "tenants.social.provider.VerifiedOpenIDConnectProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": provider_id,
                "name": app["name"],
                "client_id": app["client_id"],
                "secret": app["secret"],
                # Claims come from the signed ID token only, never from the userinfo endpoint.
                "settings": {"server_url": app["server_url"], "fetch_userinfo": False},
            }
            for provider_id, app in OIDC_PROVIDERS.items()
            if app["client_id"]
        ],
    }
}
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="noc@hashinsight.local")
