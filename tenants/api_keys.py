"""API keys: random bearer keys shown once, stored as a SHA-256 digest.

The keys carry 256 bits of randomness, so a fast digest is as safe as a password hash here and keeps
every API call cheap (a password hash such as argon2 would cost tens of milliseconds per request).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "lbk_"


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str
    prefix: str
    digest: str


def generate_api_key() -> NewApiKey:
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(plaintext=plaintext, prefix=plaintext[:12], digest=digest_api_key(plaintext))


def digest_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def looks_like_api_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and 20 <= len(value) <= 100
