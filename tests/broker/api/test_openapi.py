"""The OpenAPI document describes exactly the API the app serves: every /api/v1 route and method, no more."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from broker.app import create_app
from broker.settings import Settings
from tests.conftest import TEST_SECRET_KEY, RunningBroker

pytestmark = pytest.mark.asyncio(loop_scope="session")

OPERATIONS = {"get", "put", "post", "delete", "patch"}


def api_operations(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(path, method) of every /api/v1 route, mounted ones included; HEAD is Starlette's automatic twin of GET."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= api_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route) and (prefix + route.path).startswith("/api/v1/"):
            found |= {(prefix + route.path, method.lower()) for method in route.methods or () if method != "HEAD"}
    return found


async def test_every_api_route_and_method_is_documented_and_nothing_else(
    http: httpx.AsyncClient, broker: RunningBroker
) -> None:
    response = await http.get(broker.url("/api/v1/openapi.json"))
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1") and document["servers"] == [{"url": broker.base_url}]
    documented = {(path, method) for path, item in document["paths"].items() for method in item if method in OPERATIONS}
    served = api_operations(create_app(Settings(secret_key=TEST_SECRET_KEY)).routes)
    assert served - documented == set(), "document these routes in broker/api/openapi.py"
    assert documented - served == set(), "these documented operations are not served"


async def test_every_reference_in_the_document_resolves(http: httpx.AsyncClient, broker: RunningBroker) -> None:
    document = (await http.get(broker.url("/api/v1/openapi.json"))).json()
    schemas = document["components"]["schemas"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [ref for value in node.values() for ref in refs(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in refs(value)]
        return []

    missing = {ref for ref in refs(document) if ref.removeprefix("#/components/schemas/") not in schemas}
    assert not missing
