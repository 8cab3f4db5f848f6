import base64
import secrets
from urllib.parse import parse_qs, parse_qsl, quote_plus, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.launch.jose import random_token
from broker.launch.oidc_login import (
    LoginRequest,
    LoginRequestError,
    authorization_request_url,
    parse_login_request,
    read_each_field,
)
from broker.launch.oidc_login import _quoted as quoted

PARAMS = {
    "iss": "https://lms.example.edu",
    "login_hint": "user 42/&=",
    "target_link_uri": "https://broker.example.com/t/acme/tool",
    "lti_message_hint": "eyJhbGciOi.hint",
    "lti_deployment_id": "dep-1",
    "client_id": "client-123",
}


def test_login_request_carries_every_parameter():
    assert parse_login_request(PARAMS) == LoginRequest(**PARAMS)


def test_optional_parameters_may_be_missing_or_empty():
    login = parse_login_request(PARAMS | {"lti_message_hint": "", "client_id": "", "lti_deployment_id": ""})
    assert (login.lti_message_hint, login.lti_deployment_id, login.client_id) == (None, None, None)


@pytest.mark.parametrize("field", ["iss", "login_hint", "target_link_uri"])
@pytest.mark.parametrize("value", [None, ""])
def test_required_parameter_missing_or_empty_is_refused(field, value):
    params = {k: v for k, v in PARAMS.items() if k != field}
    if value is not None:
        params[field] = value
    with pytest.raises(LoginRequestError) as caught:
        parse_login_request(params)
    assert caught.value.field == field


@pytest.mark.parametrize(("field", "limit"), [("iss", 2048), ("lti_message_hint", 4096), ("client_id", 255)])
def test_over_long_parameter_is_refused(field, limit):
    assert parse_login_request(PARAMS | {field: "x" * limit})
    with pytest.raises(LoginRequestError) as caught:
        parse_login_request(PARAMS | {field: "x" * (limit + 1)})
    assert caught.value.field == field
    assert str(limit) in caught.value.reason


# Login parameters as platforms and attackers send them: absent, empty, plain, with a control character, at and
# past a field's length.
_values = st.one_of(
    st.none(), st.just(""), st.sampled_from(["x", "lms \u00e9", "a\x00b", "\x7f", "\x9f", "tab\t", 0, 7]),
    st.integers(min_value=250, max_value=260).map(lambda size: "x" * size),
    st.sampled_from([2048, 2049, 4096, 4097]).map(lambda size: "y" * size),
)  # fmt: skip


def _read(read, params):
    try:
        return read(params)
    except LoginRequestError as error:
        return error.field, error.reason


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(values=st.fixed_dictionaries({name: _values for name in PARAMS}))
def test_a_login_request_is_read_as_each_field_alone_reads_it(values):
    params = {name: value for name, value in values.items() if value is not None}
    assert _read(parse_login_request, params) == _read(read_each_field, params)


def auth_query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def build(endpoint: str, login: LoginRequest) -> str:
    return authorization_request_url(
        endpoint,
        client_id="client-123",
        redirect_uri="https://broker.example.com/t/acme/lti/launch",
        login=login,
        state="state-1",
        nonce="nonce-1",
    )


def test_authorization_request_has_the_oidc_parameters():
    url = build("https://lms.example.edu/auth", parse_login_request(PARAMS))
    assert url.startswith("https://lms.example.edu/auth?")
    assert auth_query(url) == {
        "scope": ["openid"],
        "response_type": ["id_token"],
        "response_mode": ["form_post"],
        "prompt": ["none"],
        "client_id": ["client-123"],
        "redirect_uri": ["https://broker.example.com/t/acme/lti/launch"],
        "login_hint": ["user 42/&="],
        "lti_message_hint": ["eyJhbGciOi.hint"],
        "state": ["state-1"],
        "nonce": ["nonce-1"],
    }


def test_message_hint_is_left_out_when_the_platform_sent_none():
    url = build("https://lms.example.edu/auth", parse_login_request(PARAMS | {"lti_message_hint": ""}))
    assert "lti_message_hint" not in auth_query(url)


def test_endpoint_query_is_kept_and_our_parameters_win():
    url = build("https://lms.example.edu/auth?tenant=9&empty=&prompt=login", parse_login_request(PARAMS))
    query = auth_query(url)
    assert query["tenant"] == ["9"]
    assert query["empty"] == [""]
    assert query["prompt"] == ["none"]


@pytest.mark.parametrize(
    "endpoint",
    ["https://lms.example.edu/auth", "https://lms.example.edu/auth?tenant=9&lti_message_hint=x&state=s#frag"],
)
@pytest.mark.parametrize("hint", ["eyJhbGciOi.hint", ""])
def test_each_login_gets_its_own_parameters_after_the_endpoints_and_ours(endpoint: str, hint: str) -> None:
    for state, login_hint in (("state-1", "user 42/&="), ("state-2", "another user")):
        login = parse_login_request(PARAMS | {"lti_message_hint": hint, "login_hint": login_hint})
        url = authorization_request_url(
            endpoint, client_id="client-123", redirect_uri="https://b.example/launch", login=login, state=state,
            nonce="n",
        )  # fmt: skip
        parts = urlsplit(url)
        kept = [("tenant", "9"), *([] if hint else [("lti_message_hint", "x")])] if "?" in endpoint else []
        assert parse_qsl(parts.query) == [
            *kept, ("scope", "openid"), ("response_type", "id_token"), ("response_mode", "form_post"),
            ("prompt", "none"), ("client_id", "client-123"), ("redirect_uri", "https://b.example/launch"),
            ("login_hint", login_hint), ("state", state), ("nonce", "n"),
            *([("lti_message_hint", hint)] if hint else []),
        ]  # fmt: skip
        assert parts.fragment == ("frag" if "#" in endpoint else "")


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(value=st.text(alphabet="aZ09_.~-=+/ %&é\x00", max_size=12))
def test_a_value_is_quoted_as_quote_plus_quotes_it(value):
    assert quoted(value) == quote_plus(value)


@pytest.mark.parametrize("size", [18, 24, 1, 2, 3])
def test_random_tokens_are_what_secrets_makes(size, monkeypatch):
    made = random_token(size)
    assert len(made) == len(secrets.token_urlsafe(size))
    assert len(base64.urlsafe_b64decode(made + "=" * (-len(made) % 4))) == size
    monkeypatch.setattr("os.urandom", lambda n: bytes(range(250, 250 - n, -1)))
    assert random_token(size) == base64.urlsafe_b64encode(bytes(range(250, 250 - size, -1))).rstrip(b"=").decode()
