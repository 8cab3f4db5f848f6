"""Spare RSA key pairs, generated ahead by the background loop, so that binding a key to a new platform costs a
row, not the ~100 ms of RSA key generation.

The pool lives in the database, so every broker process shares it and a key is handed out once: taking one
is a DELETE of the oldest spare that only one caller can win (PostgreSQL's other takers skip the row it locked).
When the pool is empty (a burst of new platforms, or no background
loop running), the key is generated while the request waits; `generated_on_demand` counts how often.

Keys are generated in a child process (`tenants/key_generator.py`): the RSA library holds the GIL while it
searches for primes, so a thread would stall every request of this process for as long.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from broker.database import Database
from broker.direct_sql import Statements
from tenants.encryption import SecretBox
from tenants.key_generator import KeyGenerator
from tenants.keys import public_jwk, read_private_jwk
from tenants.models import SpareSigningKey

logger = logging.getLogger("tenants.key_pool")

# Enough for a burst of new platforms between two passes of the background loop; each key is about 2 KB.
KEY_POOL_SIZE = 8


@dataclass(frozen=True)
class KeyPair:
    """A key pair as it is stored: the private half encrypted."""

    kid: str
    private_key_encrypted: str
    public_jwk: dict[str, Any]


class KeyPool:
    def __init__(self, database: Database, secret_box: SecretBox, size: int = KEY_POOL_SIZE) -> None:
        self.database = database
        self.secret_box = secret_box
        self.size = size
        self.generated_on_demand = 0
        self._generator = KeyGenerator()

    async def take(self) -> KeyPair:
        """A key pair nobody else has: a spare one, else a new one made now (off the event loop)."""
        async with self.database.ephemeral() as statements:
            spare = await take_spare(statements)
        return spare or await self.generate_on_demand()

    async def generate_on_demand(self) -> KeyPair:
        """A new key pair for a request that found no spare one: made now, off the event loop (never inside a
        transaction, which would hold SQLite's write lock for as long)."""
        self.generated_on_demand += 1
        logger.info("no spare signing key left: generating one while the request waits")
        return await self._new_pair()

    async def spare(self) -> int:
        """How many spare keys the pool holds."""
        async with self.database.session() as session:
            return await session.scalar(select(func.count()).select_from(SpareSigningKey)) or 0

    async def refill(self, limit: int | None = None) -> int:
        """Generates keys until the pool holds `size` (at most `limit` of them); returns how many were added."""
        missing = self.size - await self.spare()
        missing = missing if limit is None else min(missing, limit)
        for _ in range(max(0, missing)):
            pair = await self._new_pair()
            async with self.database.transaction() as session:
                session.add(SpareSigningKey(**vars(pair)))
        return max(0, missing)

    async def close(self) -> None:
        """Ends the key-generating child, once the key it is making (if any) is handed back."""
        await asyncio.to_thread(self._generator.close)

    async def _new_pair(self) -> KeyPair:
        private = await asyncio.to_thread(self._generator.private_jwk_json)
        key = read_private_jwk(private)
        return KeyPair(str(key.kid), self.secret_box.encrypt(private), public_jwk(key))


async def take_spare(statements: Statements) -> KeyPair | None:
    """The oldest spare key pair, deleted from the pool within the caller's transaction; None when it is empty."""
    row = (await statements.execute(_TAKE_OLDEST)).first()
    return KeyPair(row.kid, row.private_key_encrypted, row.public_jwk) if row else None


# SKIP LOCKED: a taker on PostgreSQL passes over the spare another transaction is taking (SQLite's writers take
# turns, and it renders no locking clause).
_TAKE_OLDEST = (
    delete(SpareSigningKey)
    .where(
        SpareSigningKey.id
        == select(SpareSigningKey.id).order_by(SpareSigningKey.id).limit(1).with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    .returning(SpareSigningKey.kid, SpareSigningKey.private_key_encrypted, SpareSigningKey.public_jwk)
)
