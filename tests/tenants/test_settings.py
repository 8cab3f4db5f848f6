"""Changing a tenant's settings: validated field by field, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from broker.services import Services
from tenants.services import CreatedTenant, TenantError


async def test_each_setting_can_be_changed_and_the_rest_stays(services: Services, tenant: CreatedTenant) -> None:
    updated = await services.tenants.update(
        tenant.tenant.id,
        {
            "review_registrations": False,
            "activation_policy": "pending",
            "accept_new_deployments": False,
            "name": "  Acme Quiz Pro ",
            "tool_configuration": {"scopes": [], "messages": [{"type": "LtiResourceLinkRequest", "label": "Quiz"}]},
        },
    )
    assert updated.review_registrations is False and updated.activation_policy == "pending"
    assert updated.accept_new_deployments is False and updated.name == "Acme Quiz Pro"
    assert updated.tool_configuration["scopes"] == []
    assert updated.tool_configuration["messages"][0]["label"] == "Quiz"
    assert updated.tool_configuration["claims"], "keys left out take their defaults"
    again = await services.tenants.get_by_slug(tenant.tenant.slug)
    assert again is not None and again.activation_policy == "pending" and again.tool_url == tenant.tenant.tool_url


async def test_tool_url_can_be_removed(services: Services, tenant: CreatedTenant) -> None:
    assert (await services.tenants.update(tenant.tenant.id, {"tool_url": ""})).tool_url is None
    assert (await services.tenants.update(tenant.tenant.id, {"tool_url": None})).tool_url is None


BAD = [
    ({"activation_policy": "later"}, "activation_policy"),
    ({"review_registrations": "yes"}, "review_registrations"),
    ({"accept_new_deployments": 1}, "accept_new_deployments"),
    ({"name": ""}, "name"),
    ({"name": 7}, "name"),
    ({"tool_url": "ftp://tool.example"}, "tool_url"),
    ({"tool_configuration": []}, "tool_configuration"),
    ({"tool_configuration": {"messages": [{"type": "LtiLaunch"}]}}, "tool_configuration.messages[0].type"),
    ({"tool_configuration": {"custom_parameters": {"n": 1}}}, "tool_configuration.custom_parameters.n"),
    ({"tool_configuration": {"scopes": ["openid"]}}, "tool_configuration.scopes"),
    ({"webhook_url": "https://hooks.example"}, "webhook_url"),
    ({"slug": "new-slug"}, "slug"),
]


@pytest.mark.parametrize(("changes", "field"), BAD)
async def test_a_bad_value_names_its_field_and_changes_nothing(
    services: Services, tenant: CreatedTenant, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(TenantError) as raised:
        await services.tenants.update(tenant.tenant.id, {"activation_policy": "pending", **changes})
    assert raised.value.field == field
    unchanged = await services.tenants.get_by_slug(tenant.tenant.slug)
    assert unchanged is not None and unchanged.activation_policy == "active"
