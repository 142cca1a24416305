"""Collector settings (tokens, the auth cache, request rates, payload keys, the edge: trusted
proxies, mTLS, source networks), read into hashinsight.settings. Every knob comes from the
environment (see .env.example)."""

from hashinsight.settings_env import CONFIG_ERRORS, DEBUG, TESTING, _int, env

# --- collectors ------------------------------------------------------------------------------
COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC = _int("COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC", default=60)
# Seconds a worker keeps a resolved collector token (0 = off): revoked elsewhere, refused after it (SECURITY.md).
COLLECTOR_AUTH_CACHE_SEC = _int("COLLECTOR_AUTH_CACHE_SEC", default=10)
# How long a rotated collector token (an imported legacy key, most often) keeps working beside its successor.
LEGACY_KEY_ROTATION_GRACE_HOURS = _int("LEGACY_KEY_ROTATION_GRACE_HOURS", default=168)
# Requests per collector token, as DRF rates "<n>/<s|min|hour|day>" ("" = off), counted in the
# shared Redis cache. Defaults leave a healthy collector far below them: see docs/SECURITY.md.
COLLECTOR_UPLOAD_RATE = env.str("COLLECTOR_UPLOAD_RATE", default="120/min")
COLLECTOR_POLL_RATE = env.str("COLLECTOR_POLL_RATE", default="120/min")
COLLECTOR_ACK_RATE = env.str("COLLECTOR_ACK_RATE", default="1200/min")
# Key-encryption key of the collectors' payload keys (encrypted envelopes, docs/COMPATIBILITY.md):
# 32 bytes as 64 hex characters or base64url. Required with DEBUG=False (hashinsight.E010); the dev
# default below is used only with DEBUG=True or under pytest. Changing it orphans every stored key.
COLLECTOR_KEY_KEK = env.str("COLLECTOR_KEY_KEK", default="") or (
    "0f" * 32 if DEBUG or TESTING else ""  # dev-only: never a production value
)

# --- collector edge: trusted proxies, mTLS, source networks (docs/SECURITY.md) ---------------------
# Addresses (CIDRs) of the TLS terminators / proxies in front of the app. Only a request whose
# REMOTE_ADDR is one of them is believed about X-Forwarded-For and the client-certificate headers.
# Default none: every request's client is its REMOTE_ADDR and no site can require mTLS successfully.
EDGE_TRUSTED_PROXIES = env.list("EDGE_TRUSTED_PROXIES", default=[])
# Headers the terminator sets after verifying a client certificate (nginx: deploy/nginx/hashinsight.conf).
# VERIFY carries "SUCCESS" when verified; CERT the URL-escaped PEM ($ssl_client_escaped_cert), from
# which the app takes the SHA-256 fingerprint; FINGERPRINT a SHA-256 hex fingerprint, read only when
# there is no CERT header (terminators that compute it themselves; nginx's own is SHA-1).
EDGE_MTLS_VERIFY_HEADER = env.str("EDGE_MTLS_VERIFY_HEADER", default="X-SSL-Client-Verify")
EDGE_MTLS_CERT_HEADER = env.str("EDGE_MTLS_CERT_HEADER", default="X-SSL-Client-Cert")
EDGE_MTLS_FINGERPRINT_HEADER = env.str("EDGE_MTLS_FINGERPRINT_HEADER", default="X-SSL-Client-Fingerprint")


def _cidrs_check(name, values):
    import ipaddress

    for value in values:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            CONFIG_ERRORS.append(("hashinsight.E020", f"{name}: {value!r} is not an IP address or CIDR"))


_cidrs_check("EDGE_TRUSTED_PROXIES", EDGE_TRUSTED_PROXIES)
