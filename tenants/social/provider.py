"""allauth's OpenID Connect provider with one change: the ID token's signature is always checked.

allauth skips the signature when the token came straight from the token endpoint over TLS (OIDC
Core §3.1.3.7 allows it); we check it anyway, so a forged or misrouted token is refused whatever
the transport. Issuer, audience and expiry are checked by allauth's jwtkit as before.
"""

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter


class VerifiedOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    def _decode_id_token(self, app, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class VerifiedOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = VerifiedOpenIDConnectAdapter
    package = "tenants.social"  # its login and callback URLs: tenants/social/urls.py


provider_classes = [VerifiedOpenIDConnectProvider]
