"""Platform registrations: `registrations list|activate|disable|enable`."""

from __future__ import annotations

import click

from broker.cli.base import json_option, show, tenant_id_of, with_services
from broker.registration.queries import list_registrations
from broker.registration.representation import registration_item
from broker.registration.status import change_status
from broker.services import Services

STATUS_CHANGES = ("activate", "disable", "enable")


@click.group(help="platform registrations")
def registrations() -> None:
    pass


@registrations.command("list", help="list registrations")
@click.option("--tenant", metavar="SLUG", help="only this tenant's")
@json_option
@with_services
async def list_all(services: Services, tenant: str | None, as_json: bool) -> None:
    tenant_id = await tenant_id_of(services, tenant) if tenant else None
    rows = await list_registrations(services.database, tenant_id=tenant_id)
    show({"items": [registration_item(row) for row in rows]}, as_json)


def _status_command(action: str) -> click.Command:
    @click.argument("registration_id", metavar="ID")
    @json_option
    @with_services
    async def change(services: Services, registration_id: str, as_json: bool) -> None:
        show(registration_item(await change_status(services.database, registration_id, action)), as_json)

    return click.command(action, help=f"{action} a registration")(change)


for _action in STATUS_CHANGES:
    registrations.add_command(_status_command(_action))
