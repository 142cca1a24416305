"""Encrypted envelopes (COLLECTOR_PROTOCOL §2.3): `payload_enc` instead of `records`.

What the collector sends (its crypto helper, read from the public source): `{"v": 1, "alg":
"AES-256-GCM", "nonce_b64", "ciphertext_b64"}`; AES-256-GCM under the 32-byte PICKAXE_LOCAL_KEY,
a random 12-byte nonce, no associated data, the plaintext being the UTF-8 JSON of the records
list; nonce and ciphertext (with its 16-byte tag at the end) in base64url without padding.

Refusals (400) are for envelopes no key could ever open — the body is byte-identical on every
replay, so spooling cannot help; a batch that might open with another key is kept instead
(telemetry.quarantine)."""

from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import DomainError
from core.sealing import NONCE_BYTES, b64url_decode

ALG = "AES-256-GCM"
VERSION = 1
TAG_BYTES = 16


class PayloadEncInvalid(DomainError):
    error_code = "PAYLOAD_ENC_INVALID"


class PayloadAlgUnsupported(DomainError):
    error_code = "PAYLOAD_ALG_UNSUPPORTED"


class PayloadVersionUnsupported(DomainError):
    error_code = "PAYLOAD_VERSION_UNSUPPORTED"


class PayloadDecryptFailed(DomainError):
    """No registered key opens the ciphertext: another key, or the bytes were changed."""

    error_code = "PAYLOAD_DECRYPT_FAILED"


class PayloadPlaintextInvalid(DomainError):
    """It opened, but what is inside is not a JSON list of records."""

    error_code = "PAYLOAD_PLAINTEXT_INVALID"


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def sealed_parse(payload_enc) -> Sealed:
    """The envelope's `payload_enc`, checked before any key is looked at."""
    if not isinstance(payload_enc, dict):
        raise PayloadEncInvalid("payload_enc must be an object", field="payload_enc")
    version = payload_enc.get("v")
    if version != VERSION or isinstance(version, bool):
        raise PayloadVersionUnsupported(f"payload_enc version {version!r} is not supported (1 is)", field="v")
    alg = payload_enc.get("alg")
    if alg != ALG:
        raise PayloadAlgUnsupported(f"payload_enc alg {alg!r} is not supported ({ALG} is)", field="alg")
    parts = {}
    for name in ("nonce_b64", "ciphertext_b64"):
        value = payload_enc.get(name)
        try:
            if not isinstance(value, str):
                raise ValueError
            parts[name] = b64url_decode(value)
        except ValueError:
            raise PayloadEncInvalid(f"payload_enc {name} must be base64url", field=name) from None
    if len(parts["nonce_b64"]) != NONCE_BYTES:
        raise PayloadEncInvalid(f"payload_enc nonce must be {NONCE_BYTES} bytes", field="nonce_b64")
    if len(parts["ciphertext_b64"]) < TAG_BYTES:
        raise PayloadEncInvalid("payload_enc ciphertext is shorter than its tag", field="ciphertext_b64")
    return Sealed(parts["nonce_b64"], parts["ciphertext_b64"])


def sealed_open(sealed: Sealed, keys: list[tuple[str, bytes]]) -> tuple[str, list]:
    """(fingerprint of the key that opened it, the records). Tries each key in turn."""
    for fingerprint, key in keys:
        try:
            plaintext = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, None)
        except InvalidTag:
            continue
        try:
            records = orjson.loads(plaintext)
        except orjson.JSONDecodeError:
            raise PayloadPlaintextInvalid("the decrypted payload is not JSON") from None
        if not isinstance(records, list):
            raise PayloadPlaintextInvalid("the decrypted payload is not a list of records")
        return fingerprint, records
    tried = ", ".join(f for f, _ in keys)
    raise PayloadDecryptFailed(f"payload_enc does not open with the collector's key ({tried}): another key, or altered")
