"""The launches part of the tool configuration editor: one set of fields per launch message type a platform may
send (offered or not, label, icon, placements, roles, custom parameters), read into the API's message shape and
checked message by message with the API's own validator, so each error lands beside its field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from admin_ui.forms import MAX_FIELD_LENGTH, lines, pair_lines, pairs
from broker import lti
from tenants.tool_configuration import MessageConfiguration, ToolConfigurationError, parse_tool_configuration


@dataclass(frozen=True)
class Launch:
    """One message type as the form shows it; `key` prefixes its fields' names."""

    key: str
    type: str
    title: str
    hint: str


LAUNCHES = (
    Launch("resource_link", lti.RESOURCE_LINK_REQUEST, "Resource link launch",
           "The everyday launch: a learner or teacher opens a link to the tool in a course."),
    Launch("deep_linking", lti.DEEP_LINKING_REQUEST, "Deep linking (content selection)",
           "A teacher picks content from the tool, which the LMS then adds to the course as links."),
    Launch("submission_review", lti.SUBMISSION_REVIEW_REQUEST, "Submission review",
           "A teacher opens a learner's work in the tool from the gradebook."),
)  # fmt: skip
_BY_TYPE = {launch.type: launch for launch in LAUNCHES}
# The placements the registration spec defines; every LMS may add its own, typed as other placements.
KNOWN_PLACEMENTS = {
    lti.CONTENT_AREA: "Content area (where teachers add activities)",
    lti.RICH_TEXT_EDITOR: "Rich text editor (content inserted into text)",
}
TEXT_FIELDS = ("label", "icon_uri", "other_placements", "roles", "custom_parameters")
# The form field that shows an error of each message setting (other ones are named after the setting).
_FORM_FIELD = {"": "offered", "type": "offered", "placements": "other_placements"}


def form_values(form: FormData) -> dict[str, Any]:
    """What was typed and ticked for every launch, kept as submitted so a refused form shows it again."""
    values: dict[str, Any] = {}
    for launch in LAUNCHES:
        for name in ("offered", *TEXT_FIELDS):
            field = f"{launch.key}_{name}"
            values[field] = str(form.get(field) or "")[:MAX_FIELD_LENGTH]
        chosen = form.getlist(f"{launch.key}_placements")
        values[f"{launch.key}_placements"] = [placement for placement in KNOWN_PLACEMENTS if placement in chosen]
    return values


def messages_from_form(values: Mapping[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The offered launches as the API's `messages`; a field that cannot even be read adds to `errors`."""
    messages = []
    for launch in LAUNCHES:
        if not values[f"{launch.key}_offered"]:
            continue
        field = f"{launch.key}_"
        placements = [*values[field + "placements"], *lines(values[field + "other_placements"])]
        messages.append({
            "type": launch.type,
            "label": values[field + "label"].strip() or None,
            "icon_uri": values[field + "icon_uri"].strip() or None,
            "placements": list(dict.fromkeys(placements)),
            "roles": lines(values[field + "roles"]),
            "custom_parameters": pairs(values, field + "custom_parameters", "=", errors),
        })  # fmt: skip
    return messages


def message_errors(messages: list[dict[str, Any]], errors: dict[str, str]) -> None:
    """Checks each setting of each launch alone with the API's validator, so every wrong field is named at once;
    then the list as a whole (at least one launch)."""
    for message in messages:
        prefix = f"{_BY_TYPE[message['type']].key}_"
        for setting, value in message.items():
            try:
                parse_tool_configuration({"messages": [{"type": message["type"], setting: value}]})
            except ToolConfigurationError as error:
                wrong = error.field.removeprefix("messages[0]").lstrip(".").split(".")[0]
                errors.setdefault(prefix + _FORM_FIELD.get(wrong, wrong), error.reason)
    if any(name.startswith(tuple(f"{launch.key}_" for launch in LAUNCHES)) for name in errors):
        return
    try:
        parse_tool_configuration({"messages": messages})
    except ToolConfigurationError as error:
        errors["messages"] = "offer at least one launch" if not messages else error.reason


def form_from_messages(messages: Iterable[MessageConfiguration]) -> dict[str, Any]:
    """The launch fields showing stored messages; launches not offered are blank."""
    values: dict[str, Any] = {}
    for launch in LAUNCHES:
        values.update({f"{launch.key}_{name}": "" for name in ("offered", *TEXT_FIELDS)})
        values[f"{launch.key}_placements"] = []
    for message in messages:
        field = f"{_BY_TYPE[message.type].key}_"
        values.update({
            field + "offered": "yes",
            field + "label": message.label or "",
            field + "icon_uri": message.icon_uri or "",
            field + "placements": [placement for placement in message.placements if placement in KNOWN_PLACEMENTS],
            field + "other_placements": "\n".join(p for p in message.placements if p not in KNOWN_PLACEMENTS),
            field + "roles": "\n".join(message.roles),
            field + "custom_parameters": pair_lines(message.custom_parameters, "="),
        })  # fmt: skip
    return values
