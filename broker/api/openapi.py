"""The OpenAPI 3.1 document of the API, generated from its operations: their paths, their query and body models,
their answers' models and the refusals each may answer. Nothing in it is written by hand but the words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema

from broker.api.operations import Operation
from broker.api.pagination import ID_PATTERN
from broker.api.problems import Problem

Schema = dict[str, Any]
COMPONENTS = "#/components/schemas/"

REFUSALS = {
    400: "Refused (the detail says why and what to send)",
    401: "No API key, or an unknown or revoked one",
    403: "The platform refused (its words are in the detail)",
    404: "Not found, or not this tenant's",
    409: "Not possible in the current state",
    422: "Invalid input (the `field` names it; the detail says what to send)",
    429: "Rate limited: retry after the Retry-After header's seconds",
    502: "The platform refused or answered badly (its words are in the detail)",
    504: "The platform did not answer in time",
}


class _Generator(GenerateJsonSchema):
    """Property titles would only repeat the property names."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def openapi_document(operations: Sequence[Operation], server_url: str) -> dict[str, Any]:
    schemas, components = _schemas(operations)
    paths: dict[str, Schema] = {}
    for operation in operations:
        described = _operation(operation, schemas, components)
        paths.setdefault(f"/api/v1{operation.path}", {})[operation.method.lower()] = described
    for operation in operations:
        # A query model is only the list of its parameters; the parameters carry its fields.
        if operation.query is not None:
            components.pop(_component_name(schemas[operation.query, "validation"]), None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lti-broker API",
            "version": "1",
            "description": "Registrations, events, webhook deliveries, API keys and signing keys of one tenant. "
            "Errors are RFC 9457 problem details.",
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A tenant API key."}},
            "schemas": components,
        },
        "paths": paths,
    }


def _schemas(operations: Sequence[Operation]) -> tuple[dict[tuple[Any, JsonSchemaMode], Schema], Schema]:
    """Each model's schema (a reference into the components, for a model) and the components, named by the
    models' titles (`RegistrationPage` rather than pydantic's `Page_RegistrationItem_`)."""
    wanted: dict[tuple[Any, JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for operation in operations:
        wanted[operation.answer, "serialization"] = None
        for model in (operation.query, operation.body):
            if model is not None:
                wanted[model, "validation"] = None
    inputs = [(key, mode, TypeAdapter(key)) for key, mode in wanted]
    schemas, definitions = TypeAdapter.json_schemas(
        inputs, ref_template=COMPONENTS + "{model}", union_format="primitive_type_array", schema_generator=_Generator
    )
    found = definitions.get("$defs", {})
    names = {name: schema.get("title", name) for name, schema in found.items()}
    if len(set(names.values())) != len(names):
        raise ValueError(f"two schemas of the API share a title: {sorted(names.values())}")
    renamed = {names[name]: _renamed(schema, names) for name, schema in found.items()}
    return {key: _renamed(schema, names) for key, schema in schemas.items()}, renamed


def _renamed(schema: Any, names: dict[str, str]) -> Any:
    if isinstance(schema, dict):
        return {
            key: COMPONENTS + names[value.removeprefix(COMPONENTS)] if key == "$ref" else _renamed(value, names)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_renamed(value, names) for value in schema]
    return schema


def _component_name(reference: Schema) -> str:
    return str(reference["$ref"]).removeprefix(COMPONENTS)


def _operation(
    operation: Operation, schemas: dict[tuple[Any, JsonSchemaMode], Schema], components: Schema
) -> Schema:
    described: Schema = {"operationId": operation.name, "summary": operation.summary}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
        for name in operation.path_parameters
    ]
    if operation.query is not None:
        parameters += _query_parameters(components[_component_name(schemas[operation.query, "validation"])])
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        body = schemas[operation.body, "validation"]
        described["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    answer = {"schema": schemas[operation.answer, "serialization"]}
    described["responses"] = {
        str(operation.status): {"description": operation.summary, "content": {"application/json": answer}},
        **{
            str(status): {
                "description": REFUSALS[status],
                "content": {"application/problem+json": {"schema": schemas[Problem, "serialization"]}},
            }
            for status in _refusals(operation)
        },
    }
    if operation.public:
        described["security"] = []
    return described


def _query_parameters(model: Schema) -> list[Schema]:
    parameters = []
    for name, schema in model["properties"].items():
        parameter: Schema = {"name": name, "in": "query", "required": name in model.get("required", ())}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameter["schema"] = _present(schema)
        parameters.append(parameter)
    return parameters


def _present(schema: Schema) -> Schema:
    """A query parameter's schema without the null that stands for its absence (a query has no nulls)."""
    kept = {key: value for key, value in schema.items() if key not in {"description", "default"} or value is not None}
    kept.pop("description", None)
    if "anyOf" in kept:
        (only,) = [branch for branch in kept.pop("anyOf") if branch != {"type": "null"}]
        kept |= only
    if isinstance(kept.get("type"), list):
        (kept["type"],) = [kind for kind in kept["type"] if kind != "null"]
    return kept


def _refusals(operation: Operation) -> list[int]:
    statuses = set(operation.refusals)
    if not operation.public:
        statuses |= {401, 429}
    if operation.path_parameters:
        statuses.add(404)
    if operation.query is not None or operation.body is not None:
        statuses.add(422)
    return sorted(statuses)
