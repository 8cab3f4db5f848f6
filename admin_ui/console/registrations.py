"""A tenant's registrations in the console: each platform's status, deployments, scopes and proof of work,
with activate/disable/enable and verify, and every registration attempt with the documents exchanged (redacted).
Reads and changes go through the same queries and services as the API."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin_ui.console.tenant import NotInThisTenant, actor, page_context, tenant_page
from admin_ui.pages import render
from broker.refusals import Refusal
from broker.registration.attempts import get_attempt, list_attempts, registration_history
from broker.registration.models import Registration
from broker.registration.queries import get_registration, list_registrations
from broker.registration.representation import attempt_item, registration_item
from broker.registration.status import TRANSITIONS, StatusChangeError, UnknownRegistrationError, change_status
from broker.services import services
from tenants.accounts.audit import record as audit_record
from tenants.accounts.service import TenantRole

RECENT_ATTEMPTS = 50


class StatusUnchanged(Refusal):
    status_code = 409
    title = "This change does not apply"
    next_step = "Look at the registration's status: activate a pending one, enable a disabled one."


def documents(item: dict[str, Any], *names: str) -> dict[str, str]:
    """The named documents of an API item as indented JSON, for <pre> blocks (escaped by the template)."""
    return {name: json.dumps(item[name], indent=2, sort_keys=True) for name in names if item.get(name) is not None}


async def _registration(request: Request, membership: TenantRole) -> Registration:
    registration = await get_registration(
        services(request).database, tenant_id=membership.tenant.id, registration_id=request.path_params["id"]
    )
    if registration is None:
        raise NotInThisTenant("No registration with this id belongs to this tenant.")
    return registration


@tenant_page
async def registrations(request: Request, membership: TenantRole) -> Response:
    rows = await list_registrations(services(request).database, tenant_id=membership.tenant.id)
    items = [registration_item(row) for row in rows]
    context = page_context(membership, f"Registrations of {membership.tenant.name}", registrations=items)
    return render(request, "console/registrations.html", context)


async def _registration_page(
    request: Request, membership: TenantRole, *, message: str | None = None, status_code: int = 200
) -> Response:
    registration = await _registration(request, membership)
    history = await registration_history(services(request).database, registration_id=registration.id)
    attempts = [
        {**attempt_item(row), "documents": documents(attempt_item(row), "platform_configuration",
                                                     "registration_request", "response_body")}
        for row in history
    ]  # fmt: skip
    context = page_context(
        membership, f"Registration with {registration.issuer}", registration=registration_item(registration),
        attempts=attempts, actions=sorted(TRANSITIONS), message=message,
    )  # fmt: skip
    return render(request, "console/registration.html", context, status_code=status_code)


@tenant_page
async def registration(request: Request, membership: TenantRole) -> Response:
    return await _registration_page(request, membership)


@tenant_page
async def change(request: Request, membership: TenantRole) -> Response:
    action = request.path_params["action"]
    if action not in TRANSITIONS:
        raise NotInThisTenant(f"There is no action {action!r}; a registration can be activated, disabled or enabled.")
    database = services(request).database
    try:
        row = await change_status(database, request.path_params["id"], action, tenant_id=membership.tenant.id)
    except UnknownRegistrationError as error:
        raise NotInThisTenant("No registration with this id belongs to this tenant.") from error
    except StatusChangeError as error:
        raise StatusUnchanged(str(error)) from error
    async with database.transaction() as session:
        audit_record(session, actor(request), f"registration.{action}", tenant_id=membership.tenant.id,
                     registration_id=row.id, status=row.status)  # fmt: skip
    return RedirectResponse(f"/console/{membership.tenant.slug}/registrations/{row.id}", status_code=303)


@tenant_page
async def verify(request: Request, membership: TenantRole) -> Response:
    registration = await _registration(request, membership)
    # A refusal (the platform granted nothing to verify with, or refused the grant) is shown as it is.
    await services(request).tokens.verify(membership.tenant, registration.id)
    await services(request).accounts.audit.record(
        actor(request), "registration.verified", tenant_id=membership.tenant.id, registration_id=registration.id
    )
    message = "Verified: the platform granted a token with every service scope it granted at registration."
    return await _registration_page(request, membership, message=message)


@tenant_page
async def attempts(request: Request, membership: TenantRole) -> Response:
    rows = await list_attempts(services(request).database, tenant_id=membership.tenant.id, limit=1000)
    items = [attempt_item(row) for row in rows[-RECENT_ATTEMPTS:]][::-1]
    context = page_context(membership, f"Registration attempts of {membership.tenant.name}", attempts=items)
    return render(request, "console/attempts.html", context)


@tenant_page
async def attempt(request: Request, membership: TenantRole) -> Response:
    row = await get_attempt(
        services(request).database, tenant_id=membership.tenant.id, attempt_id=request.path_params["id"]
    )
    if row is None:
        raise NotInThisTenant("No registration attempt with this id belongs to this tenant.")
    item = attempt_item(row)
    shown = documents(item, "platform_configuration", "registration_request", "response_body")
    context = page_context(membership, f"Registration attempt {row.id}", attempt=item, documents=shown)
    return render(request, "console/attempt.html", context)
