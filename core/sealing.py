"""Secrets kept encrypted at rest (a collector's payload key): AES-256-GCM under the key-encryption
key COLLECTOR_KEY_KEK, with the row the secret belongs to as associated data — a sealed value
copied onto another row does not open there.

Sealed form: "v1:" + base64url(12-byte nonce ‖ ciphertext ‖ tag), no padding. A database dump
without the KEK holds no usable key; changing the KEK makes every sealed value unreadable
(re-register the keys), so it is kept like SECRET_KEY.
"""

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from core.errors import DomainError

PREFIX = "v1:"
NONCE_BYTES = 12
KEY_BYTES = 32
_HEX = re.compile(r"[0-9a-fA-F]{64}")


class SealingUnavailable(DomainError):
    """No (valid) COLLECTOR_KEY_KEK: secrets can be neither sealed nor opened."""

    status_code = 503
    error_code = "KEK_NOT_CONFIGURED"


class SealedValueUnreadable(DomainError):
    """The sealed value does not open under this KEK for this row (another KEK, or tampered)."""

    status_code = 500
    error_code = "SEALED_VALUE_UNREADABLE"


def b64url_decode(text: str) -> bytes:
    """base64url with or without padding (what the collector writes); ValueError otherwise."""
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def key_from_text(text: str) -> bytes:
    """A 32-byte key written as 64 hex characters or as base64url (padding optional) — the two
    forms the collector reads from PICKAXE_LOCAL_KEY. ValueError for anything else."""
    text = (text or "").strip()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    key = b64url_decode(text)
    if len(key) != KEY_BYTES:
        raise ValueError(f"a key must be 32 bytes (64 hex characters or base64url); this one is {len(key)} bytes")
    return key


def kek() -> bytes:
    value = getattr(settings, "COLLECTOR_KEY_KEK", "")
    if not value:
        raise SealingUnavailable("COLLECTOR_KEY_KEK is not set: collector payload keys cannot be stored")
    try:
        return key_from_text(value)
    except ValueError:
        raise SealingUnavailable("COLLECTOR_KEY_KEK is not a 32-byte key (64 hex characters or base64url)") from None


def seal(secret: bytes, *, context: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return PREFIX + b64url_encode(nonce + AESGCM(kek()).encrypt(nonce, secret, context.encode()))


def unseal(sealed: str, *, context: str) -> bytes:
    if not sealed.startswith(PREFIX):
        raise SealedValueUnreadable("unknown sealed-value format")
    try:
        raw = b64url_decode(sealed[len(PREFIX) :])
        return AESGCM(kek()).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
    except (ValueError, InvalidTag):
        raise SealedValueUnreadable("the sealed value does not open with this COLLECTOR_KEY_KEK") from None
