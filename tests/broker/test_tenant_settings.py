"""A tenant's settings from the CLI (`broker tenants update`) and the API (`/api/v1/tenant`)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from broker.services import Services
from tenants.services import CreatedTenant
from tests.broker.test_cli import run_cli
from tests.conftest import RunningBroker

TOOL = {"scopes": [], "claims": ["iss", "sub"], "messages": [{"type": "LtiResourceLinkRequest", "label": "Quiz"}]}


async def test_cli_update_changes_what_is_given_and_prints_the_settings(
    broker: RunningBroker, services: Services, tenant: CreatedTenant, tmp_path: Path
) -> None:
    configuration = tmp_path / "tool.json"
    configuration.write_text(json.dumps(TOOL))
    slug = tenant.tenant.slug
    args = ["--tool-config", str(configuration), "--no-review", "--activation-policy", "pending"]
    result = run_cli(broker, "tenants", "update", slug, *args, "--refuse-new-deployments", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["slug"] == slug and printed["registration_url"].endswith(f"/t/{slug}/lti/register")
    assert printed["review_registrations"] is False and printed["activation_policy"] == "pending"
    assert printed["accept_new_deployments"] is False
    assert printed["tool_configuration"]["messages"][0]["label"] == "Quiz"
    assert printed["tool_url"] == tenant.tenant.tool_url, "what is not given is kept"
    stored = await services.tenants.get_by_slug(slug)
    assert stored is not None and stored.review_registrations is False

    result = run_cli(
        broker, "tenants", "update", slug, "--review", "--accept-new-deployments", "--name", "New", "--json"
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["review_registrations"] is True and printed["accept_new_deployments"] is True
    assert printed["name"] == "New" and printed["activation_policy"] == "pending"


async def test_cli_update_errors_name_the_field_or_the_file(
    broker: RunningBroker, tenant: CreatedTenant, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"messages": [{"type": "LtiResourceLinkRequest", "placements": "course_navigation"}]}))
    result = run_cli(broker, "tenants", "update", tenant.tenant.slug, "--tool-config", str(bad))
    assert result.returncode == 2 and "tool_configuration.messages[0].placements" in result.stderr

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = run_cli(broker, "tenants", "update", tenant.tenant.slug, "--tool-config", str(broken))
    assert result.returncode == 2 and str(broken) in result.stderr

    result = run_cli(broker, "tenants", "update", "no-such-tenant", "--no-review")
    assert result.returncode == 2 and "no-such-tenant" in result.stderr


async def test_api_reads_and_patches_the_tenant(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    current = (await http.get(broker.url("/api/v1/tenant"), headers=headers)).json()
    assert current["slug"] == tenant.tenant.slug and current["activation_policy"] == "active"
    assert current["review_registrations"] is True and "messages" in current["tool_configuration"]

    patch = {"activation_policy": "pending", "review_registrations": False, "tool_configuration": TOOL}
    response = await http.patch(broker.url("/api/v1/tenant"), headers=headers, json=patch)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["activation_policy"] == "pending" and changed["review_registrations"] is False
    assert changed["tool_configuration"]["scopes"] == [] and changed["name"] == current["name"]
    assert (await http.get(broker.url("/api/v1/tenant"), headers=headers)).json() == changed


async def test_api_patch_refuses_bad_values_with_a_problem_naming_the_field(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    headers = {"Authorization": f"Bearer {tenant.api_key}"}
    for body, field in (
        ({"activation_policy": "soon"}, "activation_policy"),
        ({"tool_configuration": {"contacts": ["not-an-address"]}}, "tool_configuration.contacts[0]"),
        # A setting the broker does not know (here a misspelt `scopes`) is refused, not ignored.
        ({"tool_configuration": {"scope": []}}, "tool_configuration.scope"),
        ({"api_key": "x"}, "api_key"),
    ):
        response = await http.patch(broker.url("/api/v1/tenant"), headers=headers, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in response.json()["detail"]
    response = await http.patch(broker.url("/api/v1/tenant"), headers=headers, content=b"[1]")
    assert response.status_code == 422
    assert (await http.get(broker.url("/api/v1/tenant"))).status_code == 401
    unchanged = (await http.get(broker.url("/api/v1/tenant"), headers=headers)).json()
    assert unchanged["activation_policy"] == "active"
