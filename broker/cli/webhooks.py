"""Webhooks and their events: `webhooks work|deliveries`, `events replay`."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from broker.cli.base import json_option, show, tenant_id_of, with_services
from broker.services import Services
from broker.webhooks.queries import list_deliveries, replay_event
from broker.webhooks.representation import delivery_item


@click.group(help="webhook delivery")
def webhooks() -> None:
    pass


@webhooks.command("work", help="deliver webhooks and rotate keys until stopped")
@with_services
async def work(services: Services) -> None:
    """The background loop alone (deliveries and key rotations), until SIGINT or SIGTERM."""
    from broker import background

    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    logging.getLogger("broker").info("delivering webhooks; stop with Ctrl-C or SIGTERM")
    await background.run(services, stop)


@webhooks.command("deliveries", help="a tenant's deliveries with attempts")
@click.option("--tenant", required=True)
@click.option("--status", type=click.Choice(["pending", "succeeded", "failed"]))
@json_option
@with_services
async def deliveries(services: Services, tenant: str, status: str | None, as_json: bool) -> None:
    rows = await list_deliveries(services.database, tenant_id=await tenant_id_of(services, tenant), status=status)
    show({"items": [delivery_item(row) for row in rows]}, as_json)


@click.group(help="outbox events")
def events() -> None:
    pass


@events.command("replay", help="deliver an event again, same webhook-id")
@click.argument("event_id", metavar="ID")
@json_option
@with_services
async def replay(services: Services, event_id: str, as_json: bool) -> None:
    show(delivery_item(await replay_event(services.database, event_id=event_id, tenant_id=None)), as_json)
