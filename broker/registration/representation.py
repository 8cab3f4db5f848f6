"""A registration, its deployments and its attempts as the API, the CLI and webhooks show them (the external
contract's items)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_core import from_json

from broker.redaction import redact_secret_fields, redact_url
from broker.registration.attempts import SHOWN_COLUMNS as attempt_columns
from broker.registration.models import (
    AttemptStatus,
    Deployment,
    DeploymentSource,
    Registration,
    RegistrationAttempt,
    RegistrationStatus,
)
from broker.registration.queries import SHOWN_COLUMNS as registration_columns
from broker.representation import Document, Item, Timestamp


class RegistrationItem(Item, title="Registration"):
    id: str
    issuer: str
    client_id: str
    deployment_ids: list[str]
    jwks_uri: str
    token_endpoint: str | None
    authorization_endpoint: str | None
    authorization_server: str | None
    registration_endpoint: str
    product_family_code: str | None
    platform_version: str | None
    status: RegistrationStatus
    scopes_requested: list[str]
    scopes_granted: list[str]
    scopes_missing: list[str]
    scopes_narrowed: bool = Field(
        description="The platform granted less than was asked when it registered the tool "
        "(Canvas admins can narrow scopes)."
    )
    platform_profile: str | None = Field(
        description="The platform profile that shaped the registration: generic, moodle, canvas, blackboard, "
        "brightspace, sakai or schoology."
    )
    adaptations: list[str] = Field(description="What the profile changed, and what the LMS admin left out.")
    tool_host: str | None = Field(
        description="The host (and port) the LMS knows the tool by, as the registration request named it: its "
        "logins, launches and key fetches arrive there. After the tenant moves to another host, the "
        "registrations still showing the old one use it until their LMS registers the tool again."
    )
    verified_at: Timestamp | None
    launched_at: Timestamp | None
    scope_drift: dict[str, Any] | None
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, registration: Registration) -> RegistrationItem:
        columns = {column.key: getattr(registration, column.key) for column in registration_columns}
        login = (registration.registration_request or {}).get("initiate_login_uri")
        deployment_ids = [deployment.deployment_id for deployment in registration.deployments]
        return cls.model_validate(registration_fields(columns, login, deployment_ids))


_SHOWN_KEYS = tuple(column.key for column in registration_columns)


def registration_fields(columns: Mapping[Any, Any], login_uri: Any, deployment_ids: list[str]) -> dict[str, Any]:
    """A `RegistrationItem`'s fields, from the registration's stored columns (`queries.SHOWN_COLUMNS` by name), the
    login URI of its registration request and its deployments' ids: plain values that the model validates in one
    call (a page of them in one call too)."""
    granted = columns["scopes_granted"]
    missing = [scope for scope in columns["scopes_requested"] if scope not in granted]
    return {
        **columns,
        "deployment_ids": deployment_ids,
        # Display copies: the stored endpoints are exact, and a query value may be a secret.
        "jwks_uri": redact_url(columns["jwks_uri"]),
        "token_endpoint": _redacted_url(columns["token_endpoint"]),
        "authorization_endpoint": _redacted_url(columns["authorization_endpoint"]),
        "scopes_missing": missing,
        "scopes_narrowed": bool(missing),
        "adaptations": columns["adaptations"] or [],
        "tool_host": _tool_host(login_uri),
    }


def _tool_host(login: Any) -> str | None:
    if not isinstance(login, str):
        return None
    try:
        return urlsplit(login).netloc or None
    except ValueError:  # stored before the broker checked its own URLs: nothing to show
        return None


class DeploymentItem(Item, title="Deployment"):
    """A deployment of a registration; `source` says whether registration or a first launch brought it."""

    deployment_id: str
    source: DeploymentSource
    created_at: Timestamp

    @classmethod
    def of(cls, deployment: Deployment) -> DeploymentItem:
        return cls(
            deployment_id=deployment.deployment_id,
            source=DeploymentSource(deployment.source),
            created_at=deployment.created_at,
        )


class RegistrationDocuments(Item, title="RegistrationDocuments"):
    """The documents of a registration as it stands; secret-looking URL values were redacted when stored."""

    platform_profile: str | None
    adaptations: list[str]
    platform_configuration: Document = Field(description="The platform's OpenID configuration.")
    registration_request: Document = Field(description="The registration request as sent.")
    registration_response: Document = Field(description="The platform's answer.")

    @classmethod
    def of(cls, registration: Registration) -> RegistrationDocuments:
        return cls(
            platform_profile=registration.platform_profile,
            adaptations=list(registration.adaptations or []),
            platform_configuration=registration.platform_configuration,
            registration_request=registration.registration_request,
            registration_response=registration.registration_response,
        )


class AttemptItem(Item, title="RegistrationAttempt"):
    """A registration attempt, failed ones included, with the documents exchanged. Its `id` is the reference
    the LMS admin saw on a failure page."""

    id: str
    status: AttemptStatus
    openid_configuration_url: str
    issuer: str | None
    product_family_code: str | None
    platform_profile: str | None
    registration_id: str | None
    error_code: str | None
    error_detail: str | None
    platform_configuration: Document | None
    registration_request: Document | None
    response_status: int | None
    response_body: str | None = Field(description="The platform's answer, secret-looking fields redacted.")
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, attempt: RegistrationAttempt) -> AttemptItem:
        columns = {column.key: getattr(attempt, column.key) for column in attempt_columns}
        return cls.model_validate(attempt_fields(columns))


def attempt_fields(columns: Mapping[Any, Any]) -> dict[str, Any]:
    """An `AttemptItem`'s fields from the attempt's stored columns (`attempts.SHOWN_COLUMNS` by name), plainly."""
    return {**columns, "response_body": _redacted_body(columns["response_body"])}


def registration_item(registration: Registration) -> dict[str, Any]:
    """The registration as webhooks send it and the CLI prints it."""
    return RegistrationItem.of(registration).plain()


def stored_registration_item(columns: Mapping[str, Any], deployment_ids: list[str]) -> dict[str, Any]:
    """`registration_item` of a registration from the columns it was just written with (every one, by name), as
    the store makes its events: the same item without an ORM object's attribute look-ups (half of its calls)."""
    login = (columns["registration_request"] or {}).get("initiate_login_uri")
    shown = {key: columns[key] for key in _SHOWN_KEYS}
    return RegistrationItem.model_validate(registration_fields(shown, login, deployment_ids)).plain()


def deployment_event_data(registration: Registration, deployment_id: str) -> dict[str, Any]:
    """`deployment.created`'s data: the registration, and which of its deployments is the new one."""
    return deployment_event(registration_item(registration), deployment_id)


def deployment_event(item: dict[str, Any], deployment_id: str) -> dict[str, Any]:
    """`deployment.created`'s data from the registration's item (`registration_item`)."""
    return {**item, "deployment_id": deployment_id}


def attempt_item(attempt: RegistrationAttempt) -> dict[str, Any]:
    """The attempt as the API shows it, as plain JSON values (for the consoles)."""
    return AttemptItem.of(attempt).plain()


def _redacted_url(url: str | None) -> str | None:
    return None if url is None else redact_url(url)


def _redacted_body(body: str | None) -> str | None:
    if not body:
        return body
    try:
        # pydantic's parser refuses nesting past its limit with a ValueError, where json.loads would recurse.
        document = from_json(body)
    except ValueError:
        return body  # not JSON (Moodle answers errors in plain text), or too deep to read: shown as sent
    return json.dumps(redact_secret_fields(document))
