"""Passwords: argon2id hashes (argon2-cffi) and the rule for what a password may be.

Parameters are OWASP's recommended minimum for argon2id (19 MiB, 2 passes, 1 lane): about 40 ms a hash, done
in a worker thread so sign-ins never stall the event loop that serves launches. Hashes made with other
parameters still verify, and are upgraded at the next sign-in.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
# Long passphrases are welcome; a megabyte "password" only burns CPU.
MAX_LENGTH = 256
# The few that people pick most (12 characters and more); a longer list would add little to the length rule.
COMMON = frozenset(
    {
        "123456789012",
        "1234567890123",
        "12345678901234",
        "password1234",
        "passwordpassword",
        "qwertyuiopas",
        "qwerty123456",
        "iloveyou1234",
        "letmeinletmein",
        "administrator",
        "changemechangeme",
    }
)

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when no account matches, so that a wrong e-mail takes as long as a wrong password.
_DECOY_HASH = _hasher.hash("decoy password that no account has")


def password_problem(password: str, email: str) -> str | None:
    """Why this password may not be used, in words for the person choosing it; None when it may."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters; a few unrelated words make a good one"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in COMMON or len(set(password)) < 4 or lowered == email.lower() or lowered in email.lower():
        return "is too easy to guess (a common password, mostly one character, or your e-mail); choose another"
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; with no hash (no such account) it still spends the time of a check."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash or _DECOY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
