"""A tenant's credentials in the console: API keys (a new key is shown once; revoke) and signing keys (rotation).
Owners only change them; the same services as the API and the CLI do the work."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admin_ui.console.tenant import NotInThisTenant, actor, page_context, require_owner, tenant_page
from admin_ui.forms import form_values
from admin_ui.pages import render
from broker.key_rotation import signing_key_item
from broker.refusals import Refusal
from broker.services import services
from tenants.accounts.service import TenantRole
from tenants.api_keys import ApiKeyError, LastApiKeyError, UnknownApiKeyError
from tenants.representation import api_key_item


class LastKey(Refusal):
    status_code = 409
    title = "This is the last live API key"
    next_step = "Create another API key, move your tool to it, then revoke this one."


async def _api_keys_page(request: Request, membership: TenantRole, *, new_key: str | None = None,
                         errors: dict[str, str] | None = None, status_code: int = 200) -> Response:  # fmt: skip
    rows = await services(request).api_keys.list(membership.tenant.id)
    context = page_context(
        membership, "API keys", keys=[api_key_item(row) for row in rows], new_key=new_key, errors=errors or {},
        values={},
    )  # fmt: skip
    return render(request, "console/api_keys.html", context, status_code=status_code)


@tenant_page
async def api_keys(request: Request, membership: TenantRole) -> Response:
    return await _api_keys_page(request, membership)


@tenant_page
async def create_api_key(request: Request, membership: TenantRole) -> Response:
    require_owner(membership, "creating API keys")
    values = await form_values(request, "name")
    try:
        row, plaintext = await services(request).api_keys.create(membership.tenant.id, values["name"])
    except ApiKeyError as error:
        return await _api_keys_page(request, membership, errors={"name": str(error).removeprefix("name: ")},
                                    status_code=400)  # fmt: skip
    await services(request).accounts.audit.record(
        actor(request), "api_key.created", tenant_id=membership.tenant.id, key_id=row.id, name=row.name
    )
    return await _api_keys_page(request, membership, new_key=plaintext)


@tenant_page
async def revoke_api_key(request: Request, membership: TenantRole) -> Response:
    require_owner(membership, "revoking API keys")
    key_id = request.path_params["id"]
    try:
        await services(request).api_keys.revoke(key_id, tenant_id=membership.tenant.id)
    except UnknownApiKeyError as error:
        raise NotInThisTenant("No API key with this id belongs to this tenant.") from error
    except LastApiKeyError as error:
        raise LastKey(str(error)) from error
    await services(request).accounts.audit.record(
        actor(request), "api_key.revoked", tenant_id=membership.tenant.id, key_id=key_id
    )
    return await _api_keys_page(request, membership)


async def _signing_keys_page(request: Request, membership: TenantRole, *, message: str | None = None) -> Response:
    rows = await services(request).key_rotation.keys(membership.tenant.id)
    context = page_context(membership, "Signing keys", keys=[signing_key_item(row) for row in rows], message=message)
    return render(request, "console/signing_keys.html", context)


@tenant_page
async def signing_keys(request: Request, membership: TenantRole) -> Response:
    return await _signing_keys_page(request, membership)


@tenant_page
async def rotate_signing_key(request: Request, membership: TenantRole) -> Response:
    require_owner(membership, "rotating signing keys")
    rotation = await services(request).key_rotation.start(membership.tenant.id)
    await services(request).accounts.audit.record(
        actor(request), "signing_key.rotation_started", tenant_id=membership.tenant.id, kid=rotation.next_key.kid
    )
    when = f"{rotation.activates_at:%Y-%m-%d %H:%M} UTC"
    message = (
        f"New key {rotation.next_key.kid} is published; it starts signing at {when}."
        if rotation.started
        else f"A rotation is already under way: key {rotation.next_key.kid} starts signing at {when}."
    )
    return await _signing_keys_page(request, membership, message=message)
