"""API keys (/api/v1/api-keys): several named keys per tenant; a new key is shown once, in its creation."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from broker.api.operations import Caller, Operations
from broker.api.pagination import Page
from broker.api.params import Body
from broker.api.problems import Conflict, InvalidInput, NotFound
from tenants.api_keys import MAX_NAME_LENGTH, ApiKeyError, UnknownApiKeyError
from tenants.representation import ApiKeyItem

operations = Operations()


class NewApiKey(Body):
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, description="What the key is for.")]


@operations.get("/api-keys", "List API keys (never the keys themselves)")
async def api_keys(caller: Caller) -> Page[ApiKeyItem]:
    rows = await caller.services.api_keys.list(caller.tenant.id)
    return Page[ApiKeyItem](items=[ApiKeyItem.of(row) for row in rows], next=None)


@operations.post("/api-keys", "Create a named API key, shown once", status=201)
async def create_api_key(caller: Caller, body: NewApiKey) -> ApiKeyItem:
    try:
        row, key = await caller.services.api_keys.create(caller.tenant.id, body.name)
    except ApiKeyError as error:
        raise InvalidInput(str(error), field="name") from error
    return ApiKeyItem.of(row, key=key)


@operations.delete(
    "/api-keys/{id}", "Revoke an API key at once (not the last live one)", resource="API key", refusals=(409,)
)
async def revoke_api_key(caller: Caller, id: str) -> ApiKeyItem:
    try:
        row = await caller.services.api_keys.revoke(id, tenant_id=caller.tenant.id)
    except UnknownApiKeyError as error:
        raise NotFound("API key") from error
    except ApiKeyError as error:
        raise Conflict(str(error)) from error
    return ApiKeyItem.of(row)
