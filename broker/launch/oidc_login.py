"""Third-party initiated login: read the platform's login initiation, build the authentication request."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from broker import stored_text
from broker.refusals import FieldError

# Generous caps, only there so a hostile request cannot make us store or echo megabytes. Hints are opaque
# and sometimes JWTs (Canvas's lti_message_hint), so they get the most room.
# What quote_plus leaves as it is, then base64's padding.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*=*")
_MAX_LENGTHS = {
    "iss": 2048,
    "login_hint": 4096,
    "target_link_uri": 2048,
    "lti_message_hint": 4096,
    "lti_deployment_id": 255,
    "client_id": 255,
}
_LENGTHS = tuple(_MAX_LENGTHS.values())  # in the order of the fields


class LoginRequestError(FieldError):
    subject = "login parameter"


@dataclass(frozen=True)
class LoginRequest:
    iss: str
    login_hint: str
    target_link_uri: str
    lti_message_hint: str | None
    lti_deployment_id: str | None
    client_id: str | None


def parse_login_request(params: Mapping[str, str]) -> LoginRequest:
    """The login initiation parameters, from the query (GET) or the form (POST)."""
    values = [params.get(name) for name in _MAX_LENGTHS]
    if _all_fit(values):
        iss, login_hint, target_link_uri, lti_message_hint, lti_deployment_id, client_id = values
        if iss and login_hint and target_link_uri:
            # Empty means absent, as in `_optional`.
            return LoginRequest(
                iss, login_hint, target_link_uri, lti_message_hint or None, lti_deployment_id or None, client_id or None
            )
    return read_each_field(params)


def _all_fit(values: Sequence[object]) -> bool:
    """Whether every value is absent or text within its field's length, none holding a control character: the
    checks of `_optional`, for all fields at once (a call or two for each field cost more than its checks)."""
    texts = []
    for value, longest in zip(values, _LENGTHS, strict=True):
        if value is not None:
            if not isinstance(value, str) or len(value) > longest:
                return False
            texts.append(value)
    return stored_text.problem("".join(texts)) is None


def read_each_field(params: Mapping[str, str]) -> LoginRequest:
    """`parse_login_request`, one field after the other: the refusal of the first field that has none."""
    return LoginRequest(
        iss=_required(params, "iss"),
        login_hint=_required(params, "login_hint"),
        target_link_uri=_required(params, "target_link_uri"),
        lti_message_hint=_optional(params, "lti_message_hint"),
        lti_deployment_id=_optional(params, "lti_deployment_id"),
        client_id=_optional(params, "client_id"),
    )


def authorization_request_url(
    authorization_endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    login: LoginRequest,
    state: str,
    nonce: str,
) -> str:
    """The platform's authorization endpoint with the OIDC authentication request in its query."""
    head, fragment = _fixed_part(authorization_endpoint, client_id, redirect_uri, login.lti_message_hint is not None)
    own = f"login_hint={_quoted(login.login_hint)}&state={_quoted(state)}&nonce={_quoted(nonce)}"
    if login.lti_message_hint is not None:
        own += f"&lti_message_hint={_quoted(login.lti_message_hint)}"
    return f"{head}&{own}{fragment}"


def _quoted(value: str) -> str:
    """`quote_plus(value)`. The broker's own state and nonce are base64url, and most hints (a number, a JWT) hold
    only the characters quote_plus never escapes: none to escape but `=` then (quote_plus's calls, about ten,
    are kept for other values)."""
    return value.replace("=", "%3D") if _UNRESERVED.fullmatch(value) else quote_plus(value)


@lru_cache(maxsize=1024)
def _fixed_part(authorization_endpoint: str, client_id: str, redirect_uri: str, with_hint: bool) -> tuple[str, str]:
    """The request URL up to the parameters of one login, and the endpoint's fragment: the same for every login
    of a registration at one site, so built once (parsing and quoting all of it took about 40 µs a login)."""
    fixed = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
    }
    ours = {*fixed, "login_hint", "state", "nonce", *(("lti_message_hint",) if with_hint else ())}
    parts = urlsplit(authorization_endpoint)
    # The endpoint's own query must survive (OAuth 2.0 §3.1), but a parameter may appear only once, so
    # where the endpoint already has one of ours, ours wins.
    kept = [
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name not in ours
    ]
    head = urlunsplit(parts._replace(query=urlencode([*kept, *fixed.items()]), fragment=""))
    return head, f"#{parts.fragment}" if parts.fragment else ""


def _required(params: Mapping[str, str], name: str) -> str:
    value = _optional(params, name)
    if value is None:
        raise LoginRequestError(name, "required, and missing or empty")
    return value


def _optional(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    # Platforms send empty optional fields (`client_id=`); empty means absent.
    if not value:
        return None
    if not isinstance(value, str):
        raise LoginRequestError(name, "must be text")
    problem = stored_text.problem(value, _MAX_LENGTHS[name])
    if problem is not None:
        raise LoginRequestError(name, problem)
    return value
