"""The LTI message inside a verified id_token: the checks each message type needs."""

from dataclasses import dataclass
from typing import Any

from broker import stored_text
from broker.lti import (
    DEEP_LINKING_SETTINGS,
    DEPLOYMENT_ID,
    LAUNCH_MESSAGE_TYPES,
    LINK_LAUNCHES,
    LTI_VERSION,
    MESSAGE_TYPE,
    RESOURCE_LINK,
    ROLES,
    TARGET_LINK_URI,
    VERSION,
)
from broker.refusals import FieldError
from broker.untrusted_json import is_string_list


class LtiMessageError(FieldError):
    subject = "LTI claim"


@dataclass(frozen=True)
class LaunchMessage:
    message_type: str
    version: str
    deployment_id: str
    # Required for resource link and submission review launches; deep linking requests may omit it.
    target_link_uri: str | None
    resource_link_id: str | None
    deep_link_return_url: str | None
    subject: str | None
    roles: tuple[str, ...]


@dataclass(frozen=True)
class DeepLinkingSettings:
    deep_link_return_url: str
    accept_types: tuple[str, ...]
    accept_presentation_document_targets: tuple[str, ...]
    accept_multiple: bool
    # Opaque to us and echoed verbatim in the response; None when the platform sent none.
    data: Any


def check_lti_message(
    claims: dict[str, Any],
    *,
    login_target_link_uri: str | None,
    login_deployment_id: str | None,
) -> LaunchMessage:
    """The launch message of verified id_token `claims`, checked against its type and the login."""
    message_type = _string(claims, MESSAGE_TYPE)
    if message_type not in LAUNCH_MESSAGE_TYPES:
        raise LtiMessageError(MESSAGE_TYPE, f"{message_type!r} is not a message type this broker carries")
    version = _string(claims, VERSION)
    if version != LTI_VERSION:
        raise LtiMessageError(VERSION, f"expected {LTI_VERSION!r}, got {version!r}")
    is_link_launch = message_type in LINK_LAUNCHES
    return LaunchMessage(
        message_type=message_type,
        version=version,
        deployment_id=_deployment_id(claims, login_deployment_id),
        target_link_uri=_target_link_uri(claims, login_target_link_uri, required=is_link_launch),
        resource_link_id=_resource_link_id(claims) if is_link_launch else None,
        deep_link_return_url=None if is_link_launch else deep_linking_settings(claims).deep_link_return_url,
        subject=_subject(claims),
        roles=_roles(claims, required=is_link_launch),
    )


def deep_linking_settings(claims: dict[str, Any]) -> DeepLinkingSettings:
    """The `deep_linking_settings` of a deep linking request, with the three members the spec requires."""
    settings = claims.get(DEEP_LINKING_SETTINGS)
    if not isinstance(settings, dict):
        raise LtiMessageError(DEEP_LINKING_SETTINGS, "missing or not an object")
    accept_multiple = settings.get("accept_multiple", True)
    if not isinstance(accept_multiple, bool):
        raise LtiMessageError(f"{DEEP_LINKING_SETTINGS}.accept_multiple", "must be true or false")
    return DeepLinkingSettings(
        deep_link_return_url=_string(settings, "deep_link_return_url", parent=DEEP_LINKING_SETTINGS),
        accept_types=_strings(settings, "accept_types", parent=DEEP_LINKING_SETTINGS),
        accept_presentation_document_targets=_strings(
            settings, "accept_presentation_document_targets", parent=DEEP_LINKING_SETTINGS
        ),
        accept_multiple=accept_multiple,
        data=settings.get("data"),
    )


def _deployment_id(claims: dict[str, Any], login_deployment_id: str | None) -> str:
    deployment_id = _string(claims, DEPLOYMENT_ID, max_length=255)
    if login_deployment_id is not None and deployment_id != login_deployment_id:
        raise LtiMessageError(DEPLOYMENT_ID, "differs from the lti_deployment_id of the login")
    return deployment_id


def _target_link_uri(
    claims: dict[str, Any], login_target_link_uri: str | None, *, required: bool
) -> str | None:
    if not required and TARGET_LINK_URI not in claims:
        return None
    target_link_uri = _string(claims, TARGET_LINK_URI)
    # The login's target_link_uri is the one we checked belongs to the tenant; the launch must not move.
    if login_target_link_uri is not None and target_link_uri != login_target_link_uri:
        raise LtiMessageError(TARGET_LINK_URI, "differs from the target_link_uri of the login")
    return target_link_uri


def _resource_link_id(claims: dict[str, Any]) -> str:
    resource_link = claims.get(RESOURCE_LINK)
    if not isinstance(resource_link, dict):
        raise LtiMessageError(RESOURCE_LINK, "missing or not an object")
    return _string(resource_link, "id", parent=RESOURCE_LINK, max_length=255)


def _roles(claims: dict[str, Any], *, required: bool) -> tuple[str, ...]:
    if not required and ROLES not in claims:
        return ()
    return _strings(claims, ROLES)


def _subject(claims: dict[str, Any]) -> str | None:
    # An anonymous launch has no `sub`.
    if "sub" not in claims:
        return None
    return _string(claims, "sub", max_length=255)


def _string(
    container: dict[str, Any], name: str, *, parent: str | None = None, max_length: int | None = None
) -> str:
    claim = f"{parent}.{name}" if parent else name
    value = container.get(name)
    if not isinstance(value, str) or not value:
        raise LtiMessageError(claim, "missing or not a non-empty string")
    if max_length is not None and (not value.isascii() or stored_text.problem(value, max_length)):
        raise LtiMessageError(claim, f"must be at most {max_length} printable ASCII characters")
    return value


def _strings(container: dict[str, Any], name: str, *, parent: str | None = None) -> tuple[str, ...]:
    claim = f"{parent}.{name}" if parent else name
    value = container.get(name)
    if not is_string_list(value):
        raise LtiMessageError(claim, "missing or not an array of strings")
    return tuple(value)
