"""The Deep Linking 2.0 response: the content items a tool chose, signed for the platform that asked."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import RSAKey

from broker.launch import jose
from broker.launch.messages import (
    DeepLinkingSettings,
    LtiMessageError,
    check_lti_message,
    deep_linking_settings,
)
from broker.lti import (
    CONTENT_ITEMS,
    DEEP_LINKING_REQUEST,
    DEEP_LINKING_RESPONSE,
    DEPLOYMENT_ID,
    DL_DATA,
    DL_ERRORMSG,
    DL_MSG,
    LTI_VERSION,
    MESSAGE_TYPE,
    VERSION,
)
from broker.refusals import FieldError


class DeepLinkingError(FieldError):
    subject = "deep linking response field"


@dataclass(frozen=True)
class DeepLinkingResponse:
    """Where to POST the response (as the form field `JWT`), and the signed response itself."""

    return_url: str
    jwt: str


def build_deep_linking_response(
    request_claims: Mapping[str, Any],
    content_items: list[dict[str, Any]],
    *,
    signing_key: RSAKey,
    client_id: str,
    now: float,
    message: str | None = None,
    error_message: str | None = None,
    lifetime: int = jose.MAX_LIFETIME,
    launchable: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = list,
) -> DeepLinkingResponse:
    """Sign `content_items` as the answer to the deep linking request whose id_token claims are given, each
    item's launchable URLs given by `launchable` once the items are known to fit.

    Raises `LtiMessageError` when the claims are not a deep linking request, `DeepLinkingError` when the
    items do not fit what the platform said it accepts (and whatever `launchable` raises).
    """
    claims = dict(request_claims)
    request = check_lti_message(claims, login_target_link_uri=None, login_deployment_id=None)
    if request.message_type != DEEP_LINKING_REQUEST:
        raise LtiMessageError(
            MESSAGE_TYPE, f"a {request.message_type} launch cannot be answered with content"
        )
    platform_issuer = claims.get("iss")
    if not isinstance(platform_issuer, str) or not platform_issuer:
        raise LtiMessageError("iss", "missing; the response is addressed to the platform's issuer")
    settings = deep_linking_settings(claims)
    _check_content_items(content_items, settings)
    response = {
        "iss": client_id,
        "aud": platform_issuer,
        "nonce": jose.random_token(),
        DEPLOYMENT_ID: request.deployment_id,
        MESSAGE_TYPE: DEEP_LINKING_RESPONSE,
        VERSION: LTI_VERSION,
        CONTENT_ITEMS: launchable(content_items),
    }
    optional = {DL_DATA: settings.data, DL_MSG: message, DL_ERRORMSG: error_message}
    response.update({claim: value for claim, value in optional.items() if value is not None})
    return DeepLinkingResponse(
        settings.deep_link_return_url, jose.sign(response, signing_key, now=now, lifetime=lifetime)
    )


def _check_content_items(content_items: object, settings: DeepLinkingSettings) -> None:
    if not isinstance(content_items, list):
        raise DeepLinkingError("content_items", "must be an array")
    if len(content_items) > 1 and not settings.accept_multiple:
        raise DeepLinkingError("content_items", f"the platform accepts one item, not {len(content_items)}")
    for index, item in enumerate(content_items):
        where = f"content_items[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise DeepLinkingError(where, "must be an object with a string `type`")
        if item["type"] not in settings.accept_types:
            accepted = ", ".join(settings.accept_types) or "none"
            raise DeepLinkingError(
                f"{where}.type", f"{item['type']!r} is not accepted here (accepted: {accepted})"
            )
