"""The platform's answer to a registration (LTI-DR 1.0 §3.6): the registration as stored, or an error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from broker import stored_text, untrusted_json
from broker.lti import TOOL_CONFIGURATION_KEY

MAX_ERROR_TEXT = 2048


class RegistrationResponseError(ValueError):
    """The platform refused, or answered in a way that cannot be used; `detail` is its own words."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class RegistrationResult:
    client_id: str
    deployment_ids: tuple[str, ...]
    scopes_granted: tuple[str, ...] | None
    document: dict[str, Any]


def parse_registration_response(status_code: int, body: bytes) -> RegistrationResult:
    """Any 2xx with a JSON object carrying `client_id` is a success (platforms answer 200, not 201)."""
    if not 200 <= status_code < 300:
        raise RegistrationResponseError(status_code, platform_error_text(body))
    try:
        document = untrusted_json.loads(body)
    except ValueError as error:
        raise RegistrationResponseError(status_code, "the platform's answer is not JSON") from error
    if not isinstance(document, dict):
        raise RegistrationResponseError(status_code, "the platform's answer is not a JSON object")
    client_id = document.get("client_id")
    if isinstance(client_id, int) and not isinstance(client_id, bool):
        client_id = str(client_id)
    if not isinstance(client_id, str) or not client_id:
        raise RegistrationResponseError(status_code, "the platform's answer has no client_id")
    problem = stored_text.problem(client_id, stored_text.IDENTIFIER_LENGTH)
    if problem is not None:
        raise RegistrationResponseError(status_code, f"the client_id in the platform's answer {problem}")
    return RegistrationResult(
        client_id=client_id,
        deployment_ids=_deployment_ids(document),
        scopes_granted=_scopes(document),
        document=document,
    )


def _deployment_ids(document: dict[str, Any]) -> tuple[str, ...]:
    # The spec puts it in the tool configuration (Moodle, Sakai); Canvas puts it at the top level.
    tool_configuration = document.get(TOOL_CONFIGURATION_KEY)
    candidates = [
        tool_configuration.get("deployment_id") if isinstance(tool_configuration, dict) else None,
        document.get("deployment_id"),
    ]
    found: list[str] = []
    for candidate in candidates:
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            candidate = str(candidate)
        if not isinstance(candidate, str) or not candidate or not candidate.isascii():
            continue
        if stored_text.problem(candidate, stored_text.IDENTIFIER_LENGTH) is None and candidate not in found:
            found.append(candidate)
    return tuple(found)


def _scopes(document: dict[str, Any]) -> tuple[str, ...] | None:
    scope = document.get("scope")
    if not isinstance(scope, str):
        return None
    return tuple(part for part in scope.split() if part != "openid")


def platform_error_text(body: bytes) -> str:
    """The platform's own words, whatever its format: RFC 7591, Canvas's shapes, or plain text."""
    text = body[: MAX_ERROR_TEXT * 2].decode("utf-8", errors="replace").strip()
    try:
        document = untrusted_json.loads(text)
    except ValueError:
        return _clip(text) or "(the platform gave no explanation)"
    return _clip(_json_error_text(document) or text)


def _json_error_text(document: Any) -> str | None:
    if not isinstance(document, dict):
        return None
    error, description, message = document.get("error"), document.get("error_description"), document.get("errorMessage")
    if isinstance(error, str):
        return f"{error}: {description}" if isinstance(description, str) else error
    if "errors" in document:
        return json.dumps(document["errors"], ensure_ascii=False)
    if isinstance(message, str):
        return message
    return None


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"
