"""The tenant's own settings (/api/v1/tenant): read them, or change some with PATCH.

The API twin of `broker tenants update`. A PATCH names only what it changes; `tool_configuration` replaces
the whole configuration (keys left out take their defaults). A bad value is a 422 naming its field.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from broker.api.operations import Caller, Operations
from broker.api.params import Body
from broker.api.problems import InvalidInput
from tenants.models import ActivationPolicy
from tenants.representation import TenantSettingsItem
from tenants.services import TenantError

operations = Operations()


class TenantChanges(Body):
    """The settings to change; any left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    # Left out, a setting is unchanged; only `tool_url` may be null (no tool URL).
    name: str = Field(default=None)
    tool_url: str | None = None
    tool_configuration: dict[str, Any] = Field(default=None, description="Messages, scopes, claims, URIs, contacts.")
    review_registrations: bool = Field(default=None, description="false: one-click registration.")
    activation_policy: ActivationPolicy = Field(default=None)
    accept_new_deployments: bool = Field(default=None)


@operations.get("/tenant", "The tenant's settings and tool configuration")
async def read_settings(caller: Caller) -> TenantSettingsItem:
    return TenantSettingsItem.of(caller.services.settings, caller.tenant)


@operations.patch("/tenant", "Change some settings; tool_configuration replaces the whole configuration")
async def change_settings(caller: Caller, body: TenantChanges) -> TenantSettingsItem:
    try:
        tenant = await caller.services.tenants.update(caller.tenant.id, body.model_dump(exclude_unset=True))
    except TenantError as error:
        raise InvalidInput(f"{error.field}: {error.reason}.", field=error.field) from error
    return TenantSettingsItem.of(caller.services.settings, tenant)
