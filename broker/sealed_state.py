"""Sealed state: encrypted, authenticated, expiring values carried by a form field instead of a cookie.

Registration pages live in an LMS iframe where third-party cookies are unreliable, and the state may hold
a registration token, so it is encrypted (not merely signed) before it reaches a page.

A sealed value is a Fernet token (https://github.com/fernet/spec: AES-128-CBC, then HMAC-SHA256 over the version,
the time, the IV and the ciphertext), the same bytes `cryptography.fernet.Fernet` makes and opens with the same key,
so values sealed by a release that used `Fernet` itself open here and the other way round. It is computed here
with work set up once per sealer instead of once per token (Fernet builds an HMAC and a cipher context for each
token, which cost about half of a seal or an opening, more in a serving process than on a warm core):

* the HMAC is keyed once and copied for each token;
* opening decrypts with one AES-ECB context kept for the sealer's life (CBC decryption is each block's ECB
  decryption XORed with the block before it, the IV for the first), once the token's HMAC holds;
* sealing encrypts with one AES-CBC context kept for the sealer's life, never finalized, so it chains from the
  last block it encrypted: each token's plaintext is preceded by a fresh random block, whose encryption is the
  token's IV. That IV is the cipher applied to a random value, unpredictable before the call as CBC needs it
  (NIST SP 800-38A, appendix C), and the blocks after it are CBC under that IV, as in any Fernet token.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tenants.encryption import derive_key

_VERSION = b"\x80"
_BLOCK = 16
_HEADER = 1 + 8  # the version and the time
_MAC = 32
# The smallest token: header, IV, one block of ciphertext, HMAC.
_SHORTEST = _HEADER + _BLOCK + _BLOCK + _MAC
# Fernet refuses a token made more than this many seconds in its future (a clock ahead of ours).
_MAX_CLOCK_SKEW = 60
_PADDING = [bytes([size]) * size for size in range(_BLOCK + 1)]
_encode_json = json.JSONEncoder(separators=(",", ":")).encode
_decode_json = json.JSONDecoder().decode
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


class StateError(Exception):
    """The value was altered, made for another purpose, or has expired."""


class StateSealer:
    def __init__(self, secret_key: str, purpose: str, *, clock: Callable[[], float] = time.time) -> None:
        # Fernet's key: the first half signs, the second encrypts.
        key = derive_key(secret_key, f"sealed-state {purpose}")
        self._keyed = hmac.new(key[:16], digestmod=hashlib.sha256)
        aes = algorithms.AES(key[16:])
        self._encrypt = Cipher(aes, modes.CBC(os.urandom(_BLOCK))).encryptor().update
        self._decrypt = Cipher(aes, modes.ECB()).decryptor().update  # noqa: S305 - CBC by hand, see the module doc
        self._clock = clock

    def seal(self, payload: dict[str, Any]) -> str:
        plaintext = _encode_json(payload).encode()
        padded = plaintext + _PADDING[_BLOCK - len(plaintext) % _BLOCK]
        # One call: the random block and the plaintext are chained together even with another thread sealing.
        iv_and_ciphertext = self._encrypt(os.urandom(_BLOCK) + padded)
        signed = _VERSION + int(self._clock()).to_bytes(8, "big") + iv_and_ciphertext
        mac = self._keyed.copy()
        mac.update(signed)
        # base64.urlsafe_b64encode, without its Python layers.
        return binascii.b2a_base64(signed + mac.digest(), newline=False).translate(_TO_URLSAFE).decode()

    def unseal(self, sealed: str, *, max_age: int) -> dict[str, Any]:
        """The payload of a value this sealer (or `Fernet` with its key) made at most `max_age` seconds ago, in
        the spelling it was made in: base64 has other spellings of the same bytes, which Fernet accepts and this
        refuses, so that a value has one spelling (a launch's state is spent under a digest of its text)."""
        try:
            encoded = sealed.encode("ascii")
            # base64.urlsafe_b64decode and urlsafe_b64encode, without their Python layers (a dozen calls).
            data = binascii.a2b_base64(encoded.translate(_FROM_URLSAFE))
        except (UnicodeError, binascii.Error, ValueError) as error:
            raise StateError("the form has expired or was altered") from error
        if (
            len(data) < _SHORTEST
            or (len(data) - _HEADER - _MAC) % _BLOCK
            or data[0] != _VERSION[0]
            or binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE) != encoded
        ):
            raise StateError("the form has expired or was altered")
        made = int.from_bytes(data[1:_HEADER], "big")
        now = int(self._clock())
        if made + max_age < now or now + _MAX_CLOCK_SKEW < made:
            raise StateError("the form has expired or was altered")
        mac = self._keyed.copy()
        mac.update(data[:-_MAC])
        if not hmac.compare_digest(mac.digest(), data[-_MAC:]):
            raise StateError("the form has expired or was altered")
        chained = data[_HEADER:-_MAC - _BLOCK]  # the IV, then each block of ciphertext but the last
        ciphertext = data[_HEADER + _BLOCK:-_MAC]
        xored = int.from_bytes(self._decrypt(ciphertext), "big") ^ int.from_bytes(chained, "big")
        padded = xored.to_bytes(len(ciphertext), "big")
        size = padded[-1]
        if not 0 < size <= _BLOCK or padded[-size:] != _PADDING[size]:
            raise StateError("the form was altered")
        try:
            # Our own JSON (its HMAC holds), so UTF-8: json.loads would first guess among UTF-8, -16 and -32.
            payload = _decode_json(padded[:-size].decode())
        except ValueError as error:
            raise StateError("the form was altered") from error
        if not isinstance(payload, dict):
            raise StateError("the form was altered")
        return payload
