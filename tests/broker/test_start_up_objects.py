"""A serving broker keeps the objects of its start-up (modules, classes, functions, the app and its services, none
of them ever garbage) out of the cyclic garbage collector's full passes, which would otherwise walk them all every
few seconds under load while every request in flight waits; a stopped broker gives them back to the collector."""

from __future__ import annotations

import gc

import httpx

from tests.conftest import _serve_broker


async def test_a_full_collection_in_a_serving_broker_walks_only_what_was_made_since_start_up(
    http: httpx.AsyncClient, database_url: str
) -> None:
    for broker in _serve_broker(database_url):
        assert (await http.get(broker.url("/readyz"))).status_code == 200
        walked, kept_out = len(gc.get_objects()), gc.get_freeze_count()
        # The start-up's objects outnumber by far those a few requests have made since.
        assert kept_out > 10 * walked, (walked, kept_out)
    assert gc.get_freeze_count() == 0
