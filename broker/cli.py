"""The `broker` command: database, server, tenants and registrations (output formats are a contract)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from broker import background
from broker.app import create_app, create_services
from broker.demo_tool import DEMO_SLUG, demo_tool_url
from broker.key_rotation import signing_key_item
from broker.logs import configure_logging, log_config
from broker.migrate import upgrade
from broker.registration.queries import list_registrations
from broker.registration.representation import registration_item
from broker.registration.status import StatusChangeError, UnknownRegistrationError, change_status
from broker.services import Services
from broker.settings import Settings, SettingsError
from broker.webhooks.queries import ReplayError, list_deliveries, replay_event
from broker.webhooks.representation import delivery_item
from tenants.api_keys import ApiKeyError, api_key_item
from tenants.representation import tenant_item, tenant_settings_item
from tenants.services import CreatedTenant, TenantError


def created_item(settings: Settings, created: CreatedTenant) -> dict[str, Any]:
    item = tenant_item(settings, created.tenant)
    item["api_key"] = created.api_key
    item["kid"] = created.kid
    if created.webhook_secret:
        item["webhook_secret"] = created.webhook_secret
    return item


async def _with_services(settings: Settings, work: Callable[[Services], Awaitable[int]]) -> int:
    services = create_services(settings)
    try:
        return await work(services)
    finally:
        await services.close()


def _print(value: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(value, indent=2))
    elif isinstance(value, dict) and "items" in value:
        for item in value["items"]:
            print("  ".join(f"{key}={item.get(key)}" for key in ("slug", "id", "issuer", "client_id") if key in item))
    else:
        for key, item in value.items():
            print(f"{key}: {item}")


def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, proxy_headers=True, log_config=log_config()
    )
    return 0


def cmd_tenants_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        created = await services.tenants.create(
            args.slug, args.name, tool_url=args.tool_url, webhook_url=args.webhook_url
        )
        _print(created_item(settings, created), args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_tenants_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        tenants = await services.tenants.list()
        _print({"items": [tenant_item(settings, tenant) for tenant in tenants]}, args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_tenants_update(settings: Settings, args: argparse.Namespace) -> int:
    """Changes only the settings given; a tool configuration file replaces the whole configuration."""
    changes = {
        name: getattr(args, name)
        for name in ("name", "tool_url", "review_registrations", "activation_policy", "accept_new_deployments")
        if getattr(args, name) is not None
    }
    if args.tool_config:
        try:
            with open(args.tool_config, encoding="utf-8") as handle:
                changes["tool_configuration"] = json.load(handle)
        except (OSError, ValueError) as error:
            return _error(f"--tool-config {args.tool_config}: cannot read a JSON document ({error})")

    async def work(services: Services) -> int:
        tenant = await services.tenants.get_by_slug(args.slug)
        if tenant is None:
            return _error(f"no tenant {args.slug!r}; see `broker tenants list`")
        updated = await services.tenants.update(tenant.id, changes)
        _print(tenant_settings_item(settings, updated), args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_registrations_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        tenant_id = None
        if args.tenant:
            tenant = await services.tenants.get_by_slug(args.tenant)
            if tenant is None:
                print(f"error: no tenant {args.tenant!r}; see `broker tenants list`", file=sys.stderr)
                return 2
            tenant_id = tenant.id
        rows = await list_registrations(services.database, tenant_id=tenant_id)
        _print({"items": [registration_item(row) for row in rows]}, args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Seeds the demo tenant once and prints where an LMS admin should point their LMS."""

    async def work(services: Services) -> int:
        tenant = await services.tenants.get_by_slug(DEMO_SLUG)
        tool_url = demo_tool_url(settings.base_url)
        if tenant is None:
            created = await services.tenants.create(DEMO_SLUG, "Demo Tool", tool_url=tool_url)
            tenant = created.tenant
            print(f"Created the demo tenant. Its API key (shown once): {created.api_key}")
        elif tenant.tool_url is None:
            tenant = await services.tenants.update(tenant.id, {"tool_url": tool_url})
        print(f"Registration URL: {settings.tenant_url(tenant.slug, '/lti/register')}")
        print(f"JWKS URL:         {settings.tenant_url(tenant.slug, '/.well-known/jwks.json')}")
        print(f"Launches go to:   {tenant.tool_url}")
        return 0

    return asyncio.run(_with_services(settings, work))


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


async def _tenant_id(services: Services, slug: str) -> str | None:
    tenant = await services.tenants.get_by_slug(slug)
    return tenant.id if tenant else None


def cmd_webhooks_work(settings: Settings, args: argparse.Namespace) -> int:
    """The background loop alone (deliveries and key rotations), until SIGINT or SIGTERM."""

    async def work(services: Services) -> int:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        logging.getLogger("broker").info("delivering webhooks; stop with Ctrl-C or SIGTERM")
        await background.run(services, stop)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_webhooks_deliveries(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        tenant_id = await _tenant_id(services, args.tenant)
        if tenant_id is None:
            return _error(f"no tenant {args.tenant!r}; see `broker tenants list`")
        rows = await list_deliveries(services.database, tenant_id=tenant_id, status=args.status)
        _print({"items": [delivery_item(row) for row in rows]}, args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_events_replay(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        try:
            delivery = await replay_event(services.database, event_id=args.id, tenant_id=None)
        except ReplayError as error:
            return _error(str(error))
        _print(delivery_item(delivery), args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        tenant_id = await _tenant_id(services, args.slug)
        if tenant_id is None:
            return _error(f"no tenant {args.slug!r}; see `broker tenants list`")
        rotation = await services.key_rotation.start(tenant_id)
        _print({**signing_key_item(rotation.next_key), "started": rotation.started}, args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_registrations_status(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        try:
            registration = await change_status(services.database, args.id, args.registrations_command)
        except (UnknownRegistrationError, StatusChangeError) as error:
            return _error(str(error))
        _print(registration_item(registration), args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_api_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        tenant_id = await _tenant_id(services, args.tenant)
        if tenant_id is None:
            return _error(f"no tenant {args.tenant!r}; see `broker tenants list`")
        try:
            row, key = await services.api_keys.create(tenant_id, args.name)
        except ApiKeyError as error:
            return _error(str(error))
        _print({**api_key_item(row), "key": key}, args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_api_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        tenant_id = await _tenant_id(services, args.tenant)
        if tenant_id is None:
            return _error(f"no tenant {args.tenant!r}; see `broker tenants list`")
        _print({"items": [api_key_item(row) for row in await services.api_keys.list(tenant_id)]}, args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


def cmd_api_keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        try:
            row = await services.api_keys.revoke(args.id)
        except ApiKeyError as error:
            return _error(str(error))
        _print(api_key_item(row), args.json)
        return 0

    return asyncio.run(_with_services(settings, work))


Handler = Callable[[Settings, argparse.Namespace], int]
SubCommands = argparse._SubParsersAction  # argparse has no public name for it


def _command(group: SubCommands, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
    parser = group.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=handler)
    return parser


def _add_sync_commands(commands: SubCommands, registrations: SubCommands) -> None:
    """Webhooks, events, signing keys, registration status and API keys: what a tenant can also do over the API."""
    webhooks = commands.add_parser("webhooks", help="webhook delivery").add_subparsers(
        dest="webhooks_command", required=True
    )
    webhooks.add_parser("work", help="deliver webhooks and rotate keys until stopped").set_defaults(
        handler=cmd_webhooks_work
    )
    deliveries = _command(webhooks, "deliveries", cmd_webhooks_deliveries, "a tenant's deliveries with attempts")
    deliveries.add_argument("--tenant", required=True)
    deliveries.add_argument("--status", choices=["pending", "succeeded", "failed"])

    events = commands.add_parser("events", help="outbox events").add_subparsers(dest="events_command", required=True)
    _command(events, "replay", cmd_events_replay, "deliver an event again, same webhook-id").add_argument("id")

    keys = commands.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    rotate = _command(keys, "rotate", cmd_keys_rotate, "publish a new signing key; it signs after the JWKS cache time")
    rotate.add_argument("slug")

    for action in ("activate", "disable", "enable"):
        _command(registrations, action, cmd_registrations_status, f"{action} a registration").add_argument("id")

    api_keys = commands.add_parser("api-keys", help="API keys").add_subparsers(dest="api_keys_command", required=True)
    create = _command(api_keys, "create", cmd_api_keys_create, "create a named API key (shown once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", required=True)
    _command(api_keys, "list", cmd_api_keys_list, "list a tenant's API keys").add_argument("--tenant", required=True)
    _command(api_keys, "revoke", cmd_api_keys_revoke, "revoke an API key").add_argument("id")


def _add_tenants_update(tenants: SubCommands) -> None:
    update = _command(tenants, "update", cmd_tenants_update, "change a tenant's settings and tool configuration")
    update.add_argument("slug")
    update.add_argument("--name")
    update.add_argument("--tool-url", help="where launches are relayed; an empty value removes it")
    update.add_argument("--tool-config", metavar="FILE.json", help="the tool configuration, replacing the whole")
    update.add_argument(
        "--review", dest="review_registrations", action=argparse.BooleanOptionalAction, default=None,
        help="show LMS admins the review step (--no-review: one-click registration)",
    )  # fmt: skip
    update.add_argument("--activation-policy", choices=["active", "pending"])
    accept = update.add_mutually_exclusive_group()
    accept.add_argument("--accept-new-deployments", dest="accept_new_deployments", action="store_const", const=True)
    accept.add_argument("--refuse-new-deployments", dest="accept_new_deployments", action="store_const", const=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="broker", description="LTI Dynamic Registration broker")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply all migrations").set_defaults(handler=cmd_db_upgrade)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("demo", help="seed the demo tenant and print its URLs").set_defaults(handler=cmd_demo)

    tenants = commands.add_parser("tenants", help="tool vendors").add_subparsers(dest="tenants_command", required=True)
    create = tenants.add_parser("create", help="create a tenant, its signing key and API key")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--tool-url")
    create.add_argument("--webhook-url")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=cmd_tenants_create)
    listing = tenants.add_parser("list", help="list tenants")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_tenants_list)
    _add_tenants_update(tenants)

    registrations = commands.add_parser("registrations", help="platform registrations").add_subparsers(
        dest="registrations_command", required=True
    )
    reg_list = registrations.add_parser("list", help="list registrations")
    reg_list.add_argument("--tenant")
    reg_list.add_argument("--json", action="store_true")
    reg_list.set_defaults(handler=cmd_registrations_list)
    _add_sync_commands(commands, registrations)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ()
        return args.handler(settings, args)
    except (SettingsError, TenantError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DBAPIError as error:
        print(
            f"error: the database at BROKER_DATABASE_URL is not ready ({type(error.orig).__name__}); "
            "run `broker db upgrade` first.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
