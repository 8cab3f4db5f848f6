"""The OpenAPI document describes exactly the API the app serves (every /api/v1 route and method, no more), and
real answers of the running broker, refusals included, match the schemas it publishes for them."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.routing import BaseRoute, Mount, Route

from broker.app import create_app
from broker.registration.models import RegistrationStatus
from broker.services import Services
from broker.settings import Settings
from tests.broker.api.support import ApiClient
from tests.conftest import TEST_SECRET_KEY, RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.emulators import GenericEmulator

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
    assert served, "the API's routes are found through its mount"
    assert served - documented == set(), "these routes are served but not declared as operations"
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


async def test_the_published_schemas_keep_the_contract_names_and_fields(
    http: httpx.AsyncClient, broker: RunningBroker
) -> None:
    schemas = (await http.get(broker.url("/api/v1/openapi.json"))).json()["components"]["schemas"]
    registration = schemas["Registration"]
    contract = {"id", "issuer", "client_id", "deployment_ids", "jwks_uri", "token_endpoint", "authorization_endpoint"}
    contract |= {"registration_endpoint", "product_family_code", "status", "created_at", "updated_at"}
    assert contract <= set(registration["required"])
    assert registration["properties"]["status"] == {"$ref": "#/components/schemas/RegistrationStatus"}
    assert schemas["RegistrationStatus"]["enum"] == list(RegistrationStatus)
    page = schemas["RegistrationPage"]
    assert set(page["required"]) == {"items", "next"}
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Registration"}


class PublishedSchemas:
    """Checks an answer against the schema the document publishes for its operation and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, method: str, template: str, response: httpx.Response) -> Any:
        operation = self.document["paths"][f"/api/v1{template}"][method.lower()]
        described = operation["responses"].get(str(response.status_code))
        assert described is not None, f"{method} {template} answered an undocumented {response.status_code}"
        media_type = response.headers["content-type"].partition(";")[0]
        schema = described["content"][media_type]["schema"]
        body = response.json()
        whole = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        whole["components"] = self.document["components"]
        validator = jsonschema_rs.validator_for(whole, validate_formats=True)
        errors = [f"{error.instance_path}: {error.message}" for error in validator.iter_errors(body)]
        assert not errors, f"{method} {template} {response.status_code}: {errors}"
        self.checked.add((method, template, response.status_code))
        return body


async def test_real_answers_match_the_published_schemas(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    created = await services.tenants.create(unique_slug("schema"), "Schema Tool")
    api = ApiClient(http, broker, created.api_key)
    with GenericEmulator.running() as platform:
        await register(http, broker.url(f"/t/{created.tenant.slug}/lti/register"), platform)
    published = PublishedSchemas((await http.get(broker.url("/api/v1/openapi.json"))).json())

    async def call(method: str, template: str, path: str | None = None, **options: Any) -> Any:
        return published.check(method, template, await api.call(method, f"/api/v1{path or template}", **options))

    await call("PUT", "/webhook", json={"url": "https://127.0.0.1:9/hooks"})
    (registration,) = (await call("GET", "/registrations"))["items"]
    one = f"/registrations/{registration['id']}"
    await call("GET", "/registrations", "/registrations?status=active&limit=1&updated_since=2020-01-01T00:00:00Z")
    for action in ("disable", "enable", "activate"):
        await call("POST", f"/registrations/{{id}}/{action}", f"{one}/{action}")
    for what in ("", "/deployments", "/documents", "/history"):
        await call("GET", f"/registrations/{{id}}{what}", f"{one}{what}")
    (attempt,) = (await call("GET", "/registration-attempts"))["items"]
    await call("GET", "/registration-attempts/{id}", f"/registration-attempts/{attempt['id']}")
    events = (await call("GET", "/events"))["items"]
    await call("GET", "/events/{id}", f"/events/{events[0]['id']}")
    await call("POST", "/events/{id}/replay", f"/events/{events[0]['id']}/replay")
    delivery = (await call("GET", "/webhook-deliveries"))["items"][0]
    await call("GET", "/webhook-deliveries/{id}", f"/webhook-deliveries/{delivery['id']}")
    await call("GET", "/webhook")
    await call("POST", "/webhook/rotate-secret")
    key = await call("POST", "/api-keys", json={"name": "spare"})
    await call("DELETE", "/api-keys/{id}", f"/api-keys/{key['id']}")
    (live,) = [item for item in (await call("GET", "/api-keys"))["items"] if item["revoked_at"] is None]
    await call("DELETE", "/api-keys/{id}", f"/api-keys/{live['id']}")  # 409: the last live key
    await call("GET", "/keys")
    await call("POST", "/keys/rotate")
    await call("GET", "/tenant")
    await call("PATCH", "/tenant", json={"review_registrations": False})
    # Refusals: each in the shape of a problem.
    await call("GET", "/registrations/{id}", "/registrations/reg_00000000000000000000000000")
    await call("GET", "/registrations", "/registrations?limit=0")
    await call("POST", "/api-keys", json={"name": 7})
    await call("POST", "/registrations/{id}/token", f"{one}/token", json={"scopes": "x"})
    await call("POST", "/deep-linking/response", json={"launch_token": "x.y.z", "content_items": []})
    await call("POST", "/registrations/{id}/verify", "/registrations/reg_00000000000000000000000000/verify")
    await call("GET", "/openapi.json")
    published.check("GET", "/events", await http.get(broker.url("/api/v1/events")))

    statuses = {status for _, _, status in published.checked}
    assert {200, 201, 202, 400, 401, 404, 409, 422} <= statuses
    answered = {(method.lower(), f"/api/v1{template}") for method, template, _ in published.checked}
    documented = {(method, path) for path, item in published.document["paths"].items() for method in item}
    assert documented - answered == set(), "every operation answers at least once in this test"
