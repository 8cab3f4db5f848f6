"""What every `broker` command shares: the top group, the services decorator, the `--json` option, the way
results are printed and the way errors end a command.

A command is a function under a group. It takes the process's services from `@with_services` (created from
the environment, closed when it returns) and prints with `show`, after `@json_option` where it prints items:

    @tenants.command("list", help="list tenants")
    @json_option
    @with_services
    async def list_tenants(services: Services, as_json: bool) -> None:
        show({"items": [...]}, as_json)

What a person got wrong is a `Failure` (or one of the broker's refusals): `error: …` on stderr, exit status 2.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import IO, Any, Concatenate, ParamSpec

import click
from sqlalchemy.exc import DBAPIError

from broker.app import create_services
from broker.registration.status import StatusChangeError, UnknownRegistrationError
from broker.services import Services
from broker.settings import Settings, SettingsError
from broker.webhooks.queries import ReplayError
from tenants.api_keys import ApiKeyError
from tenants.services import TenantError

P = ParamSpec("P")
# What a listing shows of each item without --json.
LISTED_KEYS = ("slug", "id", "issuer", "client_id")
# Errors whose message tells the person at the terminal what to change; shown as they are.
STATED_ERRORS = (
    SettingsError,
    TenantError,
    ApiKeyError,
    ReplayError,
    StatusChangeError,
    UnknownRegistrationError,
)


class Failure(click.ClickException):
    """A command that cannot do what was asked: `error: message` on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class BrokerGroup(click.Group):
    """The top group: the broker's own errors, raised anywhere below, end the command as a `Failure`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except STATED_ERRORS as error:
            raise Failure(str(error)) from error
        except DBAPIError as error:
            raise Failure(
                f"the database at BROKER_DATABASE_URL is not ready ({type(error.orig).__name__}); "
                "run `broker db upgrade` first."
            ) from error


@click.group(cls=BrokerGroup, help="LTI Dynamic Registration broker")
def cli() -> None:
    """Settings are read by each command, so that `--help` works whatever the environment holds."""


def settings() -> Settings:
    return Settings.from_environ()


def with_services(work: Callable[Concatenate[Services, P], Awaitable[None]]) -> Callable[P, None]:
    """Runs an async command with this process's services, made from the environment and closed after it."""

    @functools.wraps(work)
    def command(*args: P.args, **kwargs: P.kwargs) -> None:
        async def run() -> None:
            services = create_services(settings())
            try:
                await work(services, *args, **kwargs)
            finally:
                await services.close()

        asyncio.run(run())

    return command


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (its shape is a contract).")


def show(value: dict[str, Any], as_json: bool) -> None:
    """An item or a listing (`{"items": [...]}`): as JSON, or as lines a person reads."""
    if as_json:
        click.echo(json.dumps(value, indent=2))
    elif "items" in value:
        for item in value["items"]:
            click.echo("  ".join(f"{key}={item.get(key)}" for key in LISTED_KEYS if key in item))
    else:
        for key, item in value.items():
            click.echo(f"{key}: {item}")


async def tenant_id_of(services: Services, slug: str) -> str:
    tenant = await services.tenants.get_by_slug(slug)
    if tenant is None:
        raise Failure(f"no tenant {slug!r}; see `broker tenants list`")
    return tenant.id
