"""The tenant's signing keys (/api/v1/keys) and their rotation.

Rotating publishes a new key at once; it signs only once every cache of the JWKS can have seen it
(`activates_at`), and the old key stays published for a grace period after that.
"""

from __future__ import annotations

from broker.api.operations import Caller, Operations
from broker.api.pagination import Page
from broker.key_rotation import SigningKeyItem

operations = Operations()


@operations.get("/keys", "The tenant's signing keys, as published in its JWKS")
async def keys(caller: Caller) -> Page[SigningKeyItem]:
    rows = await caller.services.key_rotation.keys(caller.tenant.id)
    return Page[SigningKeyItem](items=[SigningKeyItem.of(row) for row in rows], next=None)


@operations.post(
    "/keys/rotate",
    "Start a signing-key rotation: the new key is published now and signs from activates_at",
    status=202,
)
async def rotate(caller: Caller) -> SigningKeyItem:
    rotation = await caller.services.key_rotation.start(caller.tenant.id)
    return SigningKeyItem.of(rotation.next_key, started=rotation.started)
