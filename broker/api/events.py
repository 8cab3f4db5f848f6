"""The event feed (/api/v1/events) for tools that would rather pull than receive webhooks, and replays.

The feed is the tenant's events in commit order. `next` is always a cursor, even on an empty page: keep it
and ask again with `?after=<next>` to receive only what is new.
"""

from __future__ import annotations

from pydantic import Field

from broker.api.operations import Caller, Operations
from broker.api.pagination import DEFAULT_LIMIT, encode_position
from broker.api.params import FeedPosition, Limit, Query
from broker.api.problems import Conflict, NotFound
from broker.representation import Item
from broker.webhooks.queries import ReplayError, UnknownEventError, get_event, list_events, replay_event
from broker.webhooks.representation import DeliveryItem, EventItem

operations = Operations()


class FeedQuery(Query):
    after: FeedPosition = 0
    limit: Limit = DEFAULT_LIMIT


class EventFeed(Item, title="EventFeed"):
    items: list[EventItem]
    next: str = Field(description="Always set: pass it back as `after` for newer events.")


@operations.get("/events", "The event feed, in commit order")
async def events(caller: Caller, query: FeedQuery) -> EventFeed:
    rows = await list_events(
        caller.services.database, tenant_id=caller.tenant.id, after_sequence=query.after, limit=query.limit
    )
    position = rows[-1].sequence if rows else query.after
    return EventFeed(items=[EventItem.of(row) for row in rows], next=encode_position(position))


@operations.get("/events/{id}", "One event", resource="event")
async def event(caller: Caller, id: str) -> EventItem:
    row = await get_event(caller.services.database, tenant_id=caller.tenant.id, event_id=id)
    if row is None:
        raise NotFound("event")
    return EventItem.of(row)


@operations.post(
    "/events/{id}/replay",
    "Deliver an event again, now, with the same webhook-id",
    resource="event",
    status=202,
    refusals=(409,),
)
async def replay(caller: Caller, id: str) -> DeliveryItem:
    try:
        delivery = await replay_event(caller.services.database, event_id=id, tenant_id=caller.tenant.id)
    except UnknownEventError as error:
        raise NotFound("event") from error
    except ReplayError as error:
        raise Conflict(str(error)) from error
    return DeliveryItem.of(delivery)
