"""RFC 6238 codes for the MFA tests, computed here rather than by allauth (the code under test)."""

import base64
import hashlib
import hmac
import re
import struct
import time


def totp(secret: str, *, step: int = 0, at: float | None = None) -> str:
    """The 6-digit code of `secret` for the 30-second window `step` windows after `at` (now)."""
    counter = int((time.time() if at is None else at) // 30) + step
    digest = hmac.new(base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def secret_from_page(html: str) -> str:
    """The secret the enrolment page shows beside its QR code (the #authenticator_secret field)."""
    field = re.search(r"<input[^>]*id=\"authenticator_secret\"[^>]*>", html).group(0)
    return re.search(r'value="([A-Z2-7=]+)"', field).group(1)
