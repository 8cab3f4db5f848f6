"""Service tokens and verification of a registration (/api/v1/registrations/{id}/token and /verify)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from broker.api.operations import NO_STORE, Caller, Operations
from broker.api.params import Body
from broker.registration.representation import RegistrationItem
from broker.representation import Item
from broker.tokens.service import MAX_SCOPE_LENGTH, MAX_SCOPES

operations = Operations()
PLATFORM_REFUSALS = (403, 409, 502, 504)

Scope = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SCOPE_LENGTH, pattern=r"^\S+$")]


class TokenRequest(Body):
    scopes: list[Scope] = Field(min_length=1, max_length=MAX_SCOPES, description="The scopes the token is for.")


class AccessToken(Item, title="AccessToken"):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class Verification(Item, title="Verification"):
    verified: bool
    scope: str
    registration: RegistrationItem


@operations.post(
    "/registrations/{id}/token",
    "A service token from the platform for these scopes (cached until shortly before it expires)",
    resource="registration",
    refusals=(400, *PLATFORM_REFUSALS),
    headers=NO_STORE,
)
async def token(caller: Caller, id: str, body: TokenRequest) -> AccessToken:
    # A TokenRefused is a Refusal, answered as problem details JSON.
    granted = await caller.services.tokens.token(caller.tenant, id, list(body.scopes))
    return AccessToken(
        access_token=granted.access_token,
        token_type=granted.token_type,
        expires_in=granted.expires_in,
        scope=granted.scope,
    )


@operations.post(
    "/registrations/{id}/verify",
    "Prove the registration works: a fresh token grant with every scope the platform granted",
    resource="registration",
    refusals=PLATFORM_REFUSALS,
)
async def verify(caller: Caller, id: str) -> Verification:
    verification = await caller.services.tokens.verify(caller.tenant, id)
    # The proof is that a token was granted; the token itself is not handed out here.
    return Verification(
        verified=True, scope=verification.token.scope, registration=RegistrationItem.of(verification.registration)
    )
