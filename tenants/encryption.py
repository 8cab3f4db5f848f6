"""Encryption at rest for tenant secrets (private keys, webhook secrets), keyed from BROKER_SECRET_KEY."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    """A stored secret cannot be read: BROKER_SECRET_KEY changed or the value was altered."""


# Derived once per (secret, purpose): a derivation costs tens of µs, and a registration's key set is named with a
# derived key at every step (tenants.keys.platform_key_set). The few purposes there are fit many times over.
@lru_cache(maxsize=64)
def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose; separate purposes never share key material."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"lti-broker", info=purpose.encode())
    return hkdf.derive(secret_key.encode())


class SecretBox:
    """Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) of short secrets."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret_key, "secrets-at-rest v1")))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as error:
            raise DecryptionError(
                "a stored secret could not be decrypted; is BROKER_SECRET_KEY the key it was written with?"
            ) from error
