"""Service tokens: the pieces of the client_credentials grant with a signed JWT client assertion.

Building the assertion and the form and reading the answer are pure; the guarded client does the POST.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import RSAKey

from broker import stored_text, untrusted_json
from broker.launch import jose

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_ERROR_TEXT = 2048
# Platforms issue tokens for an hour; a longer `expires_in` is taken as a day, so that a token is asked for
# again at least daily and no lifetime (10^12 s is past the year 9999) overflows a date.
MAX_EXPIRES_IN = 86400


class TokenGrantError(Exception):
    """The token endpoint refused the grant or answered something that is not a token."""

    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(f"token endpoint answered {status_code} ({error}): {description}")
        self.status_code = status_code
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    token_type: str
    expires_in: int
    scope: str


def build_client_assertion(
    *,
    client_id: str,
    audience: str | list[str],
    signing_key: RSAKey,
    now: float,
    lifetime: int = jose.MAX_LIFETIME,
) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jose.random_token(),
    }
    return jose.sign(claims, signing_key, now=now, lifetime=lifetime)


def token_request_form(assertion: str, scopes: Sequence[str]) -> dict[str, str]:
    """The form body of the token request (sent as application/x-www-form-urlencoded)."""
    # A bare string is a Sequence[str] too, and would be sent one letter per scope.
    if isinstance(scopes, str) or not scopes:
        raise ValueError("scopes must be a non-empty list of scope strings")
    if any(not scope or any(char.isspace() for char in scope) for scope in scopes):
        raise ValueError("a scope must be non-empty and contain no whitespace")
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(scopes),
    }


def parse_token_response(
    status_code: int,
    body: bytes,
    content_type: str | None,
    *,
    requested_scopes: Sequence[str] = (),
) -> AccessToken:
    """The access token in a token endpoint's answer.

    RFC 6749 lets the answer omit `scope` when it equals the request's; `requested_scopes` fills it then.
    """
    if not 200 <= status_code < 300:
        raise _refusal(status_code, body)
    if content_type is not None and "json" not in content_type.lower():
        raise TokenGrantError(status_code, "invalid_response", f"answered {content_type}, not JSON")
    document = _json_object(body)
    if document is None:
        raise TokenGrantError(status_code, "invalid_response", "the body is not a JSON object")
    return AccessToken(
        access_token=_text(status_code, document, "access_token"),
        token_type=_text(status_code, document, "token_type"),
        expires_in=_expires_in(status_code, document),
        scope=_scope(status_code, document, requested_scopes),
    )


def _refusal(status_code: int, body: bytes) -> TokenGrantError:
    document = _json_object(body)
    if document is not None and isinstance(document.get("error"), str):
        description = document.get("error_description")
        text = description if isinstance(description, str) else ""
        return TokenGrantError(status_code, document["error"], text[:_MAX_ERROR_TEXT])
    text = body[: _MAX_ERROR_TEXT * 4].decode("utf-8", "replace").strip()[:_MAX_ERROR_TEXT]
    return TokenGrantError(status_code, "http_error", text or "no description given")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = untrusted_json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _text(status_code: int, document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise TokenGrantError(status_code, "invalid_response", f"`{name}` missing or not a string")
    problem = stored_text.problem(value)
    if problem is not None:
        raise TokenGrantError(status_code, "invalid_response", f"`{name}` {problem}")
    return value


def _expires_in(status_code: int, document: dict[str, Any]) -> int:
    value = document.get("expires_in")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TokenGrantError(status_code, "invalid_response", "`expires_in` missing or not a whole number")
    return min(value, MAX_EXPIRES_IN)


def _scope(status_code: int, document: dict[str, Any], requested_scopes: Sequence[str]) -> str:
    if "scope" not in document:
        return " ".join(requested_scopes)
    return _text(status_code, document, "scope")
