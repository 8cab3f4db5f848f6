"""The tenant's own settings (/api/v1/tenant): read them, or change some with PATCH.

The API twin of `broker tenants update`. A PATCH names only what it changes; `tool_configuration` replaces
the whole configuration (keys left out take their defaults). A bad value is a 422 naming its field.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic reads TypedDicts from typing_extensions on Python 3.11

from broker.api.operations import Caller, Operations
from broker.api.problems import InvalidInput
from tenants.models import ActivationPolicy
from tenants.representation import TenantSettingsItem
from tenants.services import TenantError

operations = Operations()


@with_config(ConfigDict(extra="forbid", strict=True))
class TenantChanges(TypedDict, total=False):
    """The settings to change; any left out stay as they are (`tool_url` null: no tool URL; `hostname` null:
    back to the subdomain or path URLs, the names the tenant had keep serving it)."""

    name: str
    tool_url: str | None
    tool_configuration: Annotated[dict[str, Any], Field(description="Messages, scopes, claims, URIs, contacts.")]
    review_registrations: Annotated[bool, Field(description="false: one-click registration.")]
    activation_policy: ActivationPolicy
    accept_new_deployments: bool
    hostname: Annotated[
        str | None,
        Field(description="The tenant's own host name (lti.acme.com), pointed at the broker; its URLs move there."),
    ]


@operations.get("/tenant", "The tenant's settings and tool configuration")
async def read_settings(caller: Caller) -> TenantSettingsItem:
    return TenantSettingsItem.of(caller.services.settings, caller.tenant)


@operations.patch("/tenant", "Change some settings; tool_configuration replaces the whole configuration")
async def change_settings(caller: Caller, body: TenantChanges) -> TenantSettingsItem:
    try:
        tenant = await caller.services.tenants.update(caller.tenant.id, body)
    except TenantError as error:
        raise InvalidInput(f"{error.field}: {error.reason}.", field=error.field) from error
    return TenantSettingsItem.of(caller.services.settings, tenant)
