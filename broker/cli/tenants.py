"""Tenants, their API keys and signing keys: `tenants create|list|update`, `api-keys …`, `keys rotate`."""

from __future__ import annotations

from typing import Any

import click

from broker import untrusted_json
from broker.cli.base import Failure, json_option, show, tenant_id_of, with_services
from broker.key_rotation import signing_key_item
from broker.services import Services
from broker.settings import Settings
from tenants.representation import api_key_item, tenant_item, tenant_settings_item
from tenants.services import CreatedTenant


def created_item(settings: Settings, created: CreatedTenant) -> dict[str, Any]:
    item = tenant_item(settings, created.tenant)
    item["api_key"] = created.api_key
    item["kid"] = created.kid
    if created.webhook_secret:
        item["webhook_secret"] = created.webhook_secret
    return item


@click.group(help="tool vendors")
def tenants() -> None:
    pass


@tenants.command("create", help="create a tenant, its signing key and API key")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--tool-url")
@click.option("--webhook-url")
@json_option
@with_services
async def create_tenant(
    services: Services, slug: str, name: str, tool_url: str | None, webhook_url: str | None, as_json: bool
) -> None:
    created = await services.tenants.create(slug, name, tool_url=tool_url, webhook_url=webhook_url)
    show(created_item(services.settings, created), as_json)


@tenants.command("list", help="list tenants")
@json_option
@with_services
async def list_tenants(services: Services, as_json: bool) -> None:
    listed = await services.tenants.list()
    show({"items": [tenant_item(services.settings, tenant) for tenant in listed]}, as_json)


@tenants.command("update", help="change a tenant's settings and tool configuration")
@click.argument("slug")
@click.option("--name")
@click.option("--tool-url", help="where launches are relayed; an empty value removes it")
@click.option("--tool-config", metavar="FILE.json", help="the tool configuration, replacing the whole")
@click.option(
    "--review/--no-review", "review_registrations", default=None,
    help="show LMS admins the review step (--no-review: one-click registration)",
)  # fmt: skip
@click.option("--activation-policy", type=click.Choice(["active", "pending"]))
@click.option("--accept-new-deployments/--refuse-new-deployments", "accept_new_deployments", default=None)
@click.option(
    "--hostname", help="the tenant's own host name (lti.acme.com), pointed at the broker; an empty value removes it",
)
@json_option
@with_services
async def update_tenant(
    services: Services, /, slug: str, tool_config: str | None, as_json: bool, **given: Any
) -> None:
    """Changes only the settings given; a tool configuration file replaces the whole configuration."""
    changes = {name: value for name, value in given.items() if value is not None}
    if tool_config:
        changes["tool_configuration"] = _read_json(tool_config)
    tenant = await services.tenants.get_by_slug(slug)
    if tenant is None:
        raise Failure(f"no tenant {slug!r}; see `broker tenants list`")
    updated = await services.tenants.update(tenant.id, changes)
    show(tenant_settings_item(services.settings, updated), as_json)


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            # Refuses NaN, Infinity and nesting past any tool configuration's, which json.load would recurse into.
            return untrusted_json.loads(handle.read())
    except (OSError, ValueError) as error:
        raise Failure(f"--tool-config {path}: cannot read a JSON document ({error})") from error


@click.group("api-keys", help="API keys")
def api_keys() -> None:
    pass


@api_keys.command("create", help="create a named API key (shown once)")
@click.option("--tenant", required=True)
@click.option("--name", required=True)
@json_option
@with_services
async def create_api_key(services: Services, tenant: str, name: str, as_json: bool) -> None:
    row, key = await services.api_keys.create(await tenant_id_of(services, tenant), name)
    show({**api_key_item(row), "key": key}, as_json)


@api_keys.command("list", help="list a tenant's API keys")
@click.option("--tenant", required=True)
@json_option
@with_services
async def list_api_keys(services: Services, tenant: str, as_json: bool) -> None:
    rows = await services.api_keys.list(await tenant_id_of(services, tenant))
    show({"items": [api_key_item(row) for row in rows]}, as_json)


@api_keys.command("revoke", help="revoke an API key")
@click.argument("key_id", metavar="ID")
@json_option
@with_services
async def revoke_api_key(services: Services, key_id: str, as_json: bool) -> None:
    show(api_key_item(await services.api_keys.revoke(key_id)), as_json)


@click.group(help="signing keys")
def keys() -> None:
    pass


@keys.command("rotate", help="publish a new signing key; it signs after the JWKS cache time")
@click.argument("slug")
@json_option
@with_services
async def rotate(services: Services, slug: str, as_json: bool) -> None:
    rotation = await services.key_rotation.start(await tenant_id_of(services, slug))
    show({**signing_key_item(rotation.next_key), "started": rotation.started}, as_json)
