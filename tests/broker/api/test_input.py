"""Reading API input: any body or query gives a typed value or a 422 problem naming what is wrong; never an
unexpected exception, however deep, long or strange the input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from broker.api.app import OPERATIONS
from broker.api.params import read_body, read_query
from broker.api.problems import InvalidInput
from tenants.services import CreatedTenant
from tests.broker.api.support import ApiClient, assert_problem
from tests.conftest import RunningBroker

BODIES = sorted({operation.body for operation in OPERATIONS if operation.body}, key=lambda model: model.__name__)
QUERIES = sorted({operation.query for operation in OPERATIONS if operation.query}, key=lambda model: model.__name__)
# About 3 KB of nesting: deeper than Python's recursion limit.
DEEP = 1500

PROPERTIES = settings(max_examples=100, deadline=None, database=None, derandomize=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


def nested(depth: int, *, objects: bool) -> bytes:
    return (b'{"a":' * depth + b"1" + b"}" * depth) if objects else (b"[" * depth + b"]" * depth)


def deep_bodies() -> st.SearchStrategy[bytes]:
    """Bodies whose deep nesting sits where each model takes free-form JSON, and at the top."""
    depth = st.integers(min_value=100, max_value=5000)
    inner = st.builds(nested, depth, objects=st.booleans())
    keys = st.sampled_from(["content_items", "tool_configuration", "scopes", "url", "name", "launch_token"])
    placed = st.builds(lambda key, value: b'{"' + key.encode() + b'": [' + value + b"]}", keys, inner)
    return inner | placed


def assert_read_or_refused(model: Any, read: Any) -> None:
    try:
        value = read()
    except InvalidInput as refusal:
        assert refusal.status_code == 422 and refusal.detail and refusal.next_step
    else:
        # A body is a model, or for a TypedDict shape a dict of only the keys it names.
        assert isinstance(value, model) if isinstance(model, type) and issubclass(model, BaseModel) else (
            isinstance(value, dict) and set(value) <= set(model.__annotations__)
        )


@pytest.mark.parametrize("model", BODIES, ids=lambda model: model.__name__)
@PROPERTIES
@given(body=st.binary(max_size=200))
def test_any_bytes_are_a_body_or_a_422(model: Any, body: bytes) -> None:
    assert_read_or_refused(model, lambda: read_body(model, body))


@pytest.mark.parametrize("model", BODIES, ids=lambda model: model.__name__)
@PROPERTIES
@given(value=json_values | st.dictionaries(st.sampled_from(["scopes", "name", "url", "launch_token"]), json_values))
def test_any_json_is_a_body_or_a_422(model: Any, value: Any) -> None:
    assert_read_or_refused(model, lambda: read_body(model, json.dumps(value).encode()))


@pytest.mark.parametrize("model", BODIES, ids=lambda model: model.__name__)
@settings(max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(body=deep_bodies())
def test_deeply_nested_json_is_a_422_not_a_recursion_error(model: Any, body: bytes) -> None:
    assert_read_or_refused(model, lambda: read_body(model, body))


@pytest.mark.parametrize("model", QUERIES, ids=lambda model: model.__name__)
@PROPERTIES
@given(data=st.data())
def test_any_query_is_read_or_a_422_naming_the_parameter(model: type[BaseModel], data: st.DataObject) -> None:
    names = st.sampled_from([*model.model_fields, "other"])
    values = st.text() | st.sampled_from(["²", "1e400", "-1", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00+23:59"])
    parameters = data.draw(st.dictionaries(names, values, max_size=5))
    try:
        read_query(model, parameters)
    except InvalidInput as refusal:
        assert refusal.status_code == 422 and refusal.field in parameters


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/deep-linking/response"), ("PATCH", "/api/v1/tenant"), ("PUT", "/api/v1/webhook")],
)
async def test_a_deeply_nested_body_is_a_422_problem_over_http(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, method: str, path: str
) -> None:
    api = ApiClient(http, broker, tenant.api_key)
    for body in (nested(DEEP, objects=True), b'{"tool_configuration": ' + nested(DEEP, objects=True) + b"}"):
        assert_problem(await api.call(method, path, content=body), 422)


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/api/v1/tenant", {"name": "Quiz\x00Tool"}, "name"),
        ("PATCH", "/api/v1/tenant", {"tool_configuration": {"custom": {"a": "b\x00"}}}, "tool_configuration"),
        ("POST", "/api/v1/api-keys", {"name": "ci\x00"}, "name"),
        ("PUT", "/api/v1/webhook", {"url": "https://hooks.example.com/\x00"}, "url"),
    ],
    ids=["tenant-name", "tool_configuration", "api-key-name", "webhook-url"],
)
async def test_a_nul_character_in_a_body_is_a_422_problem_on_both_engines(
    http: httpx.AsyncClient,
    broker: RunningBroker,
    tenant: CreatedTenant,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    api = ApiClient(http, broker, tenant.api_key)
    problem = assert_problem(await api.call(method, path, json=body), 422)
    assert problem["field"].startswith(field), problem


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_nan_or_infinity_in_a_deep_linking_item_is_a_422_problem_naming_the_field(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant, constant: str
) -> None:
    """They are not JSON (1e999 reads as infinity): a signed Deep Linking answer holding one breaks the platform's
    reader, so they are refused before anything is signed."""
    item = '{"type": "ltiResourceLink", "url": "https://t.example/a", "lineItem": {"scoreMaximum": ' + constant + "}}"
    body = '{"launch_token": "x.y.z", "content_items": [' + item + "]}"
    api = ApiClient(http, broker, tenant.api_key)
    problem = assert_problem(await api.call("POST", "/api/v1/deep-linking/response", content=body.encode()), 422)
    assert problem["field"] == "content_items[0].lineItem.scoreMaximum" and "not JSON" in problem["detail"], problem
