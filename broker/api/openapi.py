"""The OpenAPI 3.1 description of the pull API, served at /api/v1/openapi.json.

Written by hand, beside the routes; a test checks that every /api/v1 route and method is described here and
that nothing described here is missing from the app. A new API route adds its operation to `PATHS`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


def _object(properties: dict[str, Schema], *, required: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(properties)
    return schema


def _page_of(name: str) -> Schema:
    return _object({"items": {"type": "array", "items": _ref(name)}, "next": _nullable("string")})


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STRINGS = {"type": "array", "items": STRING}
ANY_OBJECT: Schema = {"type": ["object", "null"]}

SCHEMAS: dict[str, Schema] = {
    "Problem": _object(
        {"type": STRING, "title": STRING, "status": {"type": "integer"}, "detail": STRING}, required=False
    ),
    "Registration": _object(
        {
            "id": STRING,
            "issuer": STRING,
            "client_id": STRING,
            "deployment_ids": STRINGS,
            "jwks_uri": STRING,
            "token_endpoint": _nullable("string"),
            "authorization_endpoint": _nullable("string"),
            "authorization_server": _nullable("string"),
            "registration_endpoint": STRING,
            "product_family_code": _nullable("string"),
            "platform_version": _nullable("string"),
            "status": {"enum": ["active", "pending", "disabled"]},
            "scopes_requested": STRINGS,
            "scopes_granted": STRINGS,
            "scopes_missing": STRINGS,
            "scopes_narrowed": {
                "type": "boolean",
                "description": "The platform granted less than was asked when it registered the tool.",
            },
            "platform_profile": {
                "type": ["string", "null"],
                "description": "The platform profile that shaped the registration: generic, moodle, canvas, "
                "blackboard, brightspace, sakai or schoology.",
            },
            "adaptations": {**STRINGS, "description": "What the profile changed, and what the LMS admin left out."},
            "verified_at": NULLABLE_TIME,
            "launched_at": NULLABLE_TIME,
            "scope_drift": ANY_OBJECT,
            "created_at": TIME,
            "updated_at": TIME,
        },
        required=False,
    ),
    "AccessToken": _object(
        {"access_token": STRING, "token_type": STRING, "expires_in": {"type": "integer"}, "scope": STRING}
    ),
    "Verification": _object({"verified": {"type": "boolean"}, "scope": STRING, "registration": _ref("Registration")}),
    "DeepLinkingResponse": _object({"deep_link_return_url": STRING, "jwt": STRING, "html": STRING}),
    "Deployment": _object(
        {"deployment_id": STRING, "source": {"enum": ["registration", "launch"]}, "created_at": TIME}
    ),
    "RegistrationAttempt": _object(
        {
            "id": STRING,
            "status": {"enum": ["fetching", "reviewing", "submitting", "succeeded", "failed"]},
            "openid_configuration_url": STRING,
            "issuer": _nullable("string"),
            "product_family_code": _nullable("string"),
            "platform_profile": _nullable("string"),
            "registration_id": _nullable("string"),
            "error_code": _nullable("string"),
            "error_detail": _nullable("string"),
            "platform_configuration": ANY_OBJECT,
            "registration_request": ANY_OBJECT,
            "response_status": _nullable("integer"),
            "response_body": _nullable("string"),
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
    "Event": _object(
        {
            "id": {"type": "string", "description": "Also the `webhook-id` header of its deliveries."},
            "type": {
                "enum": [
                    "registration.created",
                    "registration.updated",
                    "registration.activated",
                    "registration.disabled",
                    "deployment.created",
                    "keys.rotated",
                ]
            },
            "timestamp": TIME,
            "data": {"type": "object", "description": "The registration as the API shows it (keys.rotated: the kids)."},
        }
    ),
    "EventFeed": _object(
        {
            "items": {"type": "array", "items": _ref("Event")},
            "next": {"type": "string", "description": "Always set: pass it back as `after` for newer events."},
        }
    ),
    "DeliveryAttempt": _object(
        {
            "number": {"type": "integer"},
            "started_at": TIME,
            "duration_ms": {"type": "integer"},
            "status_code": _nullable("integer"),
            "response_body": {"type": ["string", "null"], "description": "The receiver's answer, truncated."},
            "error": _nullable("string"),
            "outcome": {"enum": ["in_progress", "succeeded", "retrying", "failed", "interrupted"]},
        }
    ),
    "Delivery": _object(
        {
            "id": STRING,
            "event_id": STRING,
            "event_type": STRING,
            "url": STRING,
            "trigger": {"enum": ["event", "replay"]},
            "status": {"enum": ["pending", "succeeded", "failed"]},
            "attempt_count": {"type": "integer"},
            "next_attempt_at": NULLABLE_TIME,
            "last_status_code": _nullable("integer"),
            "last_error": _nullable("string"),
            "created_at": TIME,
            "updated_at": TIME,
            "attempts": {"type": "array", "items": _ref("DeliveryAttempt")},
        }
    ),
    "WebhookEndpoint": _object(
        {
            "url": _nullable("string"),
            "secret_set": {"type": "boolean"},
            "previous_secret_expires_at": NULLABLE_TIME,
            "secret": {"type": "string", "description": "Only in the answer that made it: shown once."},
        },
        required=False,
    ),
    "ApiKey": _object(
        {
            "id": STRING,
            "name": STRING,
            "prefix": STRING,
            "created_at": TIME,
            "last_used_at": NULLABLE_TIME,
            "revoked_at": NULLABLE_TIME,
            "key": {"type": "string", "description": "Only when created: shown once."},
        },
        required=False,
    ),
    "SigningKey": _object(
        {
            "kid": STRING,
            "status": {"enum": ["next", "active", "retired"]},
            "published_at": TIME,
            "activates_at": NULLABLE_TIME,
            "activated_at": NULLABLE_TIME,
            "retired_at": NULLABLE_TIME,
            "removed_at": NULLABLE_TIME,
            "public_jwk": {"type": "object"},
            "started": {"type": "boolean", "description": "Rotation only: false if one was already under way."},
        },
        required=False,
    ),
}
SCHEMAS |= {
    "RegistrationDocuments": _object(
        {
            "platform_profile": _nullable("string"),
            "adaptations": STRINGS,
            "platform_configuration": {"type": "object", "description": "The platform's OpenID configuration."},
            "registration_request": {"type": "object", "description": "The registration request as sent."},
            "registration_response": {"type": "object", "description": "The platform's answer."},
        }
    ),
    "RegistrationHistory": _object({"items": {"type": "array", "items": _ref("RegistrationAttempt")}}),
    "Tenant": _object(
        {
            "slug": STRING,
            "name": STRING,
            "registration_url": STRING,
            "jwks_url": STRING,
            "tool_url": _nullable("string"),
            "webhook_url": _nullable("string"),
            "review_registrations": {"type": "boolean", "description": "false: one-click registration."},
            "activation_policy": {"enum": ["active", "pending"]},
            "accept_new_deployments": {"type": "boolean"},
            "tool_configuration": {"type": "object", "description": "Messages, scopes, claims, URIs, contacts."},
            "created_at": TIME,
            "updated_at": TIME,
        }
    ),
}
SCHEMAS |= {f"{name}Page": _page_of(name) for name in ("Registration", "Deployment", "RegistrationAttempt")}
SCHEMAS |= {f"{name}Page": _page_of(name) for name in ("Delivery", "ApiKey", "SigningKey")}

_PROBLEMS = {
    "400": "Bad input (the detail names the parameter)",
    "401": "No API key, or an unknown or revoked one",
    "403": "The platform refused (its words are in the detail)",
    "404": "Not found, or not this tenant's",
    "409": "Not possible in the current state",
    "422": "Invalid value (the detail says what to send)",
    "429": "Rate limited: retry after the Retry-After header's seconds",
    "502": "The platform refused or answered badly (its words are in the detail)",
    "504": "The platform did not answer in time",
}


def _operation(
    summary: str,
    answer: str | None,
    *,
    status: str = "200",
    problems: tuple[str, ...] = (),
    parameters: tuple[Schema, ...] = (),
    body: Schema | None = None,
    public: bool = False,
) -> Schema:
    content = {"application/json": {"schema": _ref(answer) if answer else {"type": "object"}}}
    responses: Schema = {status: {"description": summary, "content": content}}
    for code in ("401", "429", *problems) if not public else problems:
        responses[code] = {
            "description": _PROBLEMS[code],
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
    operation: Schema = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        operation["security"] = []
    return operation


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema or STRING}


ID = {"name": "id", "in": "path", "required": True, "schema": STRING}
CURSOR = _query("cursor", "The `next` value of the previous page.")
LIMIT = _query("limit", "Items per page, 1 to 200 (default 50).", {"type": "integer", "minimum": 1, "maximum": 200})


def _status_change(verb: str, effect: str) -> Schema:
    return {
        "post": _operation(
            f"{verb} a registration: {effect}", "Registration", problems=("404", "409"), parameters=(ID,)
        )
    }


PATHS: dict[str, Schema] = {
    "/api/v1/registrations": {
        "get": _operation(
            "List registrations, oldest first",
            "RegistrationPage",
            problems=("400",),
            parameters=(
                _query("status", "Only this status.", {"enum": ["active", "pending", "disabled"]}),
                _query("product_family_code", "Only this platform, e.g. moodle or canvas."),
                _query("updated_since", "Only those updated at or after this time.", TIME),
                CURSOR,
                LIMIT,
            ),
        )
    },
    "/api/v1/registrations/{id}": {
        "get": _operation("One registration", "Registration", problems=("404",), parameters=(ID,))
    },
    "/api/v1/registrations/{id}/activate": _status_change("Activate", "pending → active"),
    "/api/v1/registrations/{id}/disable": _status_change("Disable", "launches are refused"),
    "/api/v1/registrations/{id}/enable": _status_change("Enable", "disabled → active"),
    "/api/v1/registrations/{id}/token": {
        "post": _operation(
            "A service token from the platform for these scopes (cached until shortly before it expires)",
            "AccessToken",
            problems=("400", "403", "404", "409", "502", "504"),
            parameters=(ID,),
            body=_object({"scopes": STRINGS}),
        )
    },
    "/api/v1/registrations/{id}/verify": {
        "post": _operation(
            "Prove the registration works: a fresh token grant with every scope the platform granted",
            "Verification",
            problems=("403", "404", "409", "502", "504"),
            parameters=(ID,),
        )
    },
    "/api/v1/deep-linking/response": {
        "post": _operation(
            "Sign the tool's Deep Linking answer to a launch, with the form that posts it to the platform",
            "DeepLinkingResponse",
            problems=("400", "404", "409", "422"),
            body=_object({"launch_token": STRING, "content_items": {"type": "array", "items": {"type": "object"}}}),
        )
    },
    "/api/v1/registrations/{id}/deployments": {
        "get": _operation("A registration's deployments", "DeploymentPage", problems=("404",), parameters=(ID,))
    },
    "/api/v1/registrations/{id}/documents": {
        "get": _operation(
            "The documents of a registration as it stands: platform configuration, request, answer",
            "RegistrationDocuments",
            problems=("404",),
            parameters=(ID,),
        )
    },
    "/api/v1/registrations/{id}/history": {
        "get": _operation(
            "Every attempt that registered or updated this registration, oldest first, with its documents",
            "RegistrationHistory",
            problems=("404",),
            parameters=(ID,),
        )
    },
    "/api/v1/tenant": {
        "get": _operation("The tenant's settings and tool configuration", "Tenant"),
        "patch": _operation(
            "Change some settings; tool_configuration replaces the whole configuration",
            "Tenant",
            problems=("400", "422"),
            body=_object(
                {
                    "name": STRING,
                    "tool_url": _nullable("string"),
                    "tool_configuration": {"type": "object"},
                    "review_registrations": {"type": "boolean"},
                    "activation_policy": {"enum": ["active", "pending"]},
                    "accept_new_deployments": {"type": "boolean"},
                },
                required=False,
            ),
        ),
    },
    "/api/v1/registration-attempts": {
        "get": _operation(
            "List registration attempts, failed ones included",
            "RegistrationAttemptPage",
            problems=("400",),
            parameters=(
                _query("status", "Only this status.", SCHEMAS["RegistrationAttempt"]["properties"]["status"]),
                CURSOR,
                LIMIT,
            ),
        )
    },
    "/api/v1/registration-attempts/{id}": {
        "get": _operation(
            "One attempt; its id is the reference an LMS admin was shown",
            "RegistrationAttempt",
            problems=("404",),
            parameters=(ID,),
        )
    },
    "/api/v1/events": {
        "get": _operation(
            "The event feed, in commit order",
            "EventFeed",
            problems=("400",),
            parameters=(
                _query("after", "The `next` value of the previous call; omit to start at the first event."),
                LIMIT,
            ),
        )
    },
    "/api/v1/events/{id}": {"get": _operation("One event", "Event", problems=("404",), parameters=(ID,))},
    "/api/v1/events/{id}/replay": {
        "post": _operation(
            "Deliver an event again, now, with the same webhook-id",
            "Delivery",
            status="202",
            problems=("404", "409"),
            parameters=(ID,),
        )
    },
    "/api/v1/webhook-deliveries": {
        "get": _operation(
            "List webhook deliveries with their attempts",
            "DeliveryPage",
            problems=("400",),
            parameters=(
                _query("status", "Only this status.", SCHEMAS["Delivery"]["properties"]["status"]),
                _query("event_id", "Only deliveries of this event."),
                CURSOR,
                LIMIT,
            ),
        )
    },
    "/api/v1/webhook-deliveries/{id}": {
        "get": _operation("One delivery with its attempts", "Delivery", problems=("404",), parameters=(ID,))
    },
    "/api/v1/webhook": {
        "get": _operation("The webhook endpoint", "WebhookEndpoint"),
        "put": _operation(
            "Set the webhook URL (null stops webhooks); the first URL comes with a secret, shown once",
            "WebhookEndpoint",
            problems=("400", "422"),
            body=_object({"url": _nullable("string")}),
        ),
    },
    "/api/v1/webhook/rotate-secret": {
        "post": _operation(
            "A new webhook secret, shown once; the previous one signs too until previous_secret_expires_at",
            "WebhookEndpoint",
        )
    },
    "/api/v1/api-keys": {
        "get": _operation("List API keys (never the keys themselves)", "ApiKeyPage"),
        "post": _operation(
            "Create a named API key, shown once",
            "ApiKey",
            status="201",
            problems=("400", "422"),
            body=_object({"name": STRING}),
        ),
    },
    "/api/v1/api-keys/{id}": {
        "delete": _operation(
            "Revoke an API key at once (not the last live one)", "ApiKey", problems=("404", "409"), parameters=(ID,)
        )
    },
    "/api/v1/keys": {"get": _operation("The tenant's signing keys, as published in its JWKS", "SigningKeyPage")},
    "/api/v1/keys/rotate": {
        "post": _operation(
            "Start a signing-key rotation: the new key is published now and signs from activates_at",
            "SigningKey",
            status="202",
        )
    },
    "/api/v1/openapi.json": {"get": _operation("This document", None, public=True)},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "lti-broker pull API",
        "version": "1",
        "description": "Registrations, events, webhook deliveries, API keys and signing keys of one tenant. "
        "Errors are RFC 7807 problem details.",
    },
    "security": [{"apiKey": []}],
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A tenant API key."}},
        "schemas": SCHEMAS,
    },
    "paths": PATHS,
}


async def openapi(request: Request) -> Response:
    document = {**DOCUMENT, "servers": [{"url": request.app.state.settings.base_url}]}
    return JSONResponse(document)


routes = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
