"""Schemathesis against the served OpenAPI document, with a tenant's API key: every operation, generated
input (valid and not), no server error, and every answer in the status, media type and schema published for it."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from broker.api.app import OPERATIONS
from broker.api.openapi import openapi_document
from broker.app import create_services
from broker.registration import attempts
from tests.broker.test_api import add_registrations
from tests.conftest import RunningBroker, _serve_broker, unique_slug

# The same document the broker serves; the base URL of the running broker is given with each call.
schema = schemathesis.openapi.from_dict(openapi_document(OPERATIONS, "http://127.0.0.1"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# What the broker answers when the platform behind a registration fails (the fuzzed registration's platform
# does not exist): documented problem JSON, held to the schema by the other checks, not an error of ours.
PLATFORM_FAILED = frozenset({502, 504})


@dataclass
class FuzzedTenant:
    broker: RunningBroker
    key: str
    spare_key: str
    # Ids the tenant has, by the collection they sit in (`registrations`, `api-keys`, ...).
    known_ids: dict[str, list[str]] = field(default_factory=dict)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=20))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, self.broker.url(path), headers=self.headers(), **kwargs)

    def use_a_known_id(self, case: schemathesis.Case) -> None:
        """Every other generated id is swapped for one the tenant has, so the handlers behind the 404 are
        fuzzed too: the ids are kept when their length is odd, which the derandomized run decides alike."""
        generated = (case.path_parameters or {}).get("id")
        parts = case.path.split("/")
        if generated is None or "{id}" not in parts or len(str(generated)) % 2:
            return
        known = self.known_ids.get(parts[parts.index("{id}") - 1])
        if known:
            case.path_parameters = {**case.path_parameters, "id": known[len(str(generated)) % len(known)]}

    def replace_a_revoked_key(self) -> None:
        """A generated DELETE revoked the key in use: the spare makes a new one to go on with."""
        spare = {"Authorization": f"Bearer {self.spare_key}"}
        made = self.http.post(self.broker.url("/api/v1/api-keys"), json={"name": "fuzz"}, headers=spare)
        assert made.status_code == 201, made.text
        self.key = made.json()["key"]
        self.known_ids["api-keys"] = [made.json()["id"]]


@pytest.fixture(scope="module")
def fuzzed_broker(database_url: str) -> Iterator[RunningBroker]:
    # Thousands of generated calls a minute with one key: the rate limit must not answer them all.
    yield from _serve_broker(database_url, api_rate_limit=1_000_000)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzzed(fuzzed_broker: RunningBroker) -> AsyncIterator[FuzzedTenant]:
    services = create_services(fuzzed_broker.settings)
    try:
        created = await services.tenants.create(unique_slug("fuzz"), "Fuzzed Tool")
        _, spare = await services.api_keys.create(created.tenant.id, "spare")
        in_use, key = await services.api_keys.create(created.tenant.id, "in use")
        (registration_id,) = await add_registrations(services, created, 1)
        attempt_id = await attempts.open_attempt(services.database, created.tenant.id, "https://lms.example.edu/c")
    finally:
        await services.close()
    tenant = FuzzedTenant(fuzzed_broker, key, spare)
    tenant.known_ids = {
        "registrations": [registration_id],
        "registration-attempts": [attempt_id],
        "api-keys": [in_use.id],
    }
    # An event and its webhook delivery, made through the API as a tenant makes them.
    assert tenant.call("PUT", "/api/v1/webhook", json={"url": "http://127.0.0.1:9/hook"}).is_success
    assert tenant.call("POST", f"/api/v1/registrations/{registration_id}/disable").is_success
    tenant.known_ids["events"] = [item["id"] for item in tenant.call("GET", "/api/v1/events").json()["items"]]
    deliveries = tenant.call("GET", "/api/v1/webhook-deliveries").json()["items"]
    tenant.known_ids["webhook-deliveries"] = [item["id"] for item in deliveries]
    assert all(tenant.known_ids.values()), tenant.known_ids
    yield tenant
    tenant.http.close()


def without_dns(url: object) -> object:
    """A generated URL with a host name would make the webhook check ask DNS; tests talk to loopback only."""
    if not isinstance(url, str):
        return url
    try:
        host = urlsplit(url).hostname
        ipaddress.ip_address(host or "")
    except ValueError:
        return url.replace(host, "127.0.0.1", 1) if host else url
    return url


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_no_operation_answers_a_server_error_or_off_its_schema(case: schemathesis.Case, fuzzed: FuzzedTenant) -> None:
    fuzzed.use_a_known_id(case)
    if isinstance(case.body, dict) and "url" in case.body:
        case.body = {**case.body, "url": without_dns(case.body["url"])}
    response = case.call(base_url=fuzzed.broker.base_url, headers=fuzzed.headers())
    if case.method == "DELETE" and response.status_code == 200:
        fuzzed.replace_a_revoked_key()
    platform_failed = response.status_code in PLATFORM_FAILED
    case.validate_response(response, checks=[c for c in CHECKS if not (platform_failed and c is not_a_server_error)])
