"""The tool configuration editor: the tool's name, launch URL and everything it asks of platforms, checked
field by field by the same validator as the API (each error beside its field; nothing saved unless all is
right), with a preview of the exact registration request each platform profile would send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from admin_ui.console import launches
from admin_ui.console.preview import previews
from admin_ui.console.tenant import actor, page_context, tenant_page
from admin_ui.forms import lines, pair_lines, pairs
from admin_ui.pages import render
from broker import lti
from broker.services import services
from broker.settings import settings_of
from tenants.accounts.service import TenantRole
from tenants.services import TenantError
from tenants.tool_configuration import ToolConfigurationError, parse_tool_configuration

KNOWN_SCOPES = {
    lti.AGS_LINEITEM: "Create and manage grade columns (AGS line items)",
    lti.AGS_LINEITEM_READONLY: "Read grade columns",
    lti.AGS_RESULT_READONLY: "Read results",
    lti.AGS_SCORE: "Send scores",
    lti.NRPS_MEMBERSHIPS: "Read course rosters (Names and Role Provisioning)",
}
URL_FIELDS = ("logo_uri", "client_uri", "tos_uri", "policy_uri")
TEXT_FIELDS = ("name", "tool_url", "description", *URL_FIELDS, "contacts", "translations", "other_scopes",
               "custom_parameters")  # fmt: skip
# The form field that shows an error of each configuration key.
FORM_FIELD = {"client_name_translations": "translations", "scopes": "other_scopes"}


def configuration_from_form(values: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """The tool configuration the form describes; a field that cannot even be read adds to `errors`."""
    configuration: dict[str, Any] = {name: values[name].strip() or None for name in ("description", *URL_FIELDS)}
    configuration["contacts"] = lines(values["contacts"])
    configuration["client_name_translations"] = pairs(values, "translations", ":", errors)
    configuration["scopes"] = [*values["scopes"], *lines(values["other_scopes"])]
    configuration["claims"] = values["claims"]
    configuration["custom_parameters"] = pairs(values, "custom_parameters", "=", errors)
    configuration["messages"] = launches.messages_from_form(values, errors)
    return configuration


def configuration_errors(configuration: Mapping[str, Any], errors: dict[str, str]) -> None:
    """Checks each setting on its own with the API's validator, so that every wrong field is named at once."""
    for key, value in configuration.items():
        if key == "messages":
            launches.message_errors(value, errors)
            continue
        form_field = FORM_FIELD.get(key, key)
        if form_field in errors:
            continue
        try:
            parse_tool_configuration({key: value})
        except ToolConfigurationError as error:
            errors[form_field] = f"{error.field}: {error.reason}" if error.field != key else error.reason


def form_from_configuration(name: str, tool_url: str | None, configuration: Mapping[str, Any]) -> dict[str, Any]:
    tool = parse_tool_configuration(configuration)
    return {
        "name": name,
        "tool_url": tool_url or "",
        **{field: getattr(tool, field) or "" for field in ("description", *URL_FIELDS)},
        "contacts": "\n".join(tool.contacts),
        "translations": pair_lines(tool.client_name_translations, ": "),
        "scopes": [scope for scope in tool.scopes if scope in KNOWN_SCOPES],
        "other_scopes": "\n".join(scope for scope in tool.scopes if scope not in KNOWN_SCOPES),
        "claims": list(tool.claims),
        "custom_parameters": pair_lines(tool.custom_parameters, "="),
        **launches.form_from_messages(tool.messages),
    }


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(form.get(name) or "")[:100_000] for name in TEXT_FIELDS}
    values["scopes"] = [str(scope) for scope in form.getlist("scopes") if scope in KNOWN_SCOPES]
    values["claims"] = [str(claim) for claim in form.getlist("claims") if claim in lti.IDENTITY_CLAIMS]
    values.update(launches.form_values(form))
    return values


def _page(request: Request, membership: TenantRole, values: dict[str, Any], *, errors: dict[str, str],
          configuration: Mapping[str, Any] | None, message: str | None = None,
          status_code: int = 200) -> Response:  # fmt: skip
    shown = None
    if configuration is not None:
        tool = parse_tool_configuration(configuration)
        shown = previews(settings_of(request), membership.tenant, values["name"].strip(), tool)
    context = page_context(
        membership, "Tool configuration", values=values, errors=errors, previews=shown, message=message,
        known_scopes=KNOWN_SCOPES, identity_claims=sorted(lti.IDENTITY_CLAIMS), launches=launches.LAUNCHES,
        known_placements=launches.KNOWN_PLACEMENTS,
    )  # fmt: skip
    return render(request, "console/tool.html", context, status_code=status_code)


@tenant_page
async def tool(request: Request, membership: TenantRole) -> Response:
    tenant = membership.tenant
    values = form_from_configuration(tenant.name, tenant.tool_url, tenant.tool_configuration)
    return _page(request, membership, values, errors={}, configuration=tenant.tool_configuration)


@tenant_page
async def save_tool(request: Request, membership: TenantRole) -> Response:
    form = await request.form()
    values = _form_values(form)
    errors: dict[str, str] = {}
    configuration = configuration_from_form(values, errors)
    configuration_errors(configuration, errors)
    if errors:
        return _page(request, membership, values, errors=errors, configuration=None, status_code=400)
    if form.get("action") == "preview":
        return _page(request, membership, values, errors={}, configuration=configuration,
                     message="A preview of your changes: nothing is saved yet.")  # fmt: skip
    changes = {"name": values["name"], "tool_url": values["tool_url"].strip() or None,
               "tool_configuration": configuration}  # fmt: skip
    try:
        await services(request).tenants.update(membership.tenant.id, changes)
    except TenantError as error:
        key = error.field.removeprefix("tool_configuration.").split(".")[0].split("[")[0]
        errors[FORM_FIELD.get(key, key)] = error.reason
        return _page(request, membership, values, errors=errors, configuration=None, status_code=400)
    await services(request).accounts.audit.record(actor(request), "tool.configured", tenant_id=membership.tenant.id)
    return _page(request, membership, values, errors={}, configuration=configuration, message="Saved.")
