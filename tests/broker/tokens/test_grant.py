import json

import pytest
from joserfc import jws
from joserfc.jwk import JWKRegistry, Key, RSAKey

from broker.tokens.grant import (
    CLIENT_ASSERTION_TYPE,
    AccessToken,
    TokenGrantError,
    build_client_assertion,
    parse_token_response,
    token_request_form,
)

NOW = 1_700_000_000
TOKEN_ENDPOINT = "https://lms.example.edu/login/oauth2/token"
SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


@pytest.fixture(scope="module")
def tool_key() -> Key:
    return RSAKey.generate_key(2048, {"kid": "tenant-1", "use": "sig", "alg": "RS256"})


def platform_reads(assertion: str, key: Key) -> tuple[dict, dict]:
    """Header and claims as the platform sees them after verifying with the tool's public key."""
    published = JWKRegistry.import_key(key.as_dict(private=False))
    checked = jws.deserialize_compact(assertion, published, algorithms=["RS256"])
    return checked.headers(), json.loads(checked.payload)


def assertion(key: Key, audience: str | list[str] = TOKEN_ENDPOINT, **options: int) -> str:
    return build_client_assertion(client_id="c-1", audience=audience, signing_key=key, now=NOW, **options)


def test_client_assertion_claims(tool_key):
    header, claims = platform_reads(assertion(tool_key), tool_key)
    assert (header["alg"], header["kid"]) == ("RS256", "tenant-1")
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("c-1", "c-1", TOKEN_ENDPOINT)
    assert (claims["iat"], claims["exp"]) == (NOW, NOW + 300)


def test_client_assertion_jti_is_unique_and_aud_may_be_a_list(tool_key):
    audience = [TOKEN_ENDPOINT, "https://auth.example.edu"]
    first, second = (platform_reads(assertion(tool_key, audience), tool_key)[1] for _ in range(2))
    assert first["aud"] == audience
    assert first["jti"] != second["jti"]


def test_client_assertion_longer_than_five_minutes_is_refused(tool_key):
    with pytest.raises(ValueError, match="300"):
        assertion(tool_key, lifetime=301)


def test_token_request_form():
    assert token_request_form("a.b.c", [SCOPE, "scope-2"]) == {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": "a.b.c",
        "scope": f"{SCOPE} scope-2",
    }


@pytest.mark.parametrize("scopes", [[], SCOPE, ["two words"], [""]])
def test_token_request_form_refuses_bad_scopes(scopes):
    with pytest.raises(ValueError):
        token_request_form("a.b.c", scopes)


def ok_body(**changes: object) -> bytes:
    document = {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600, "scope": SCOPE} | changes
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_token_response_is_read():
    token = parse_token_response(200, ok_body(), "application/json; charset=utf-8")
    assert token == AccessToken(access_token="tok", token_type="Bearer", expires_in=3600, scope=SCOPE)


@pytest.mark.parametrize("lifetime", [10**12, 10**400], ids=["1e12", "1e400"])
def test_an_absurd_lifetime_is_clamped_to_a_day(lifetime: int):
    assert parse_token_response(200, ok_body(expires_in=lifetime), "application/json").expires_in == 86400


def test_missing_scope_means_the_requested_scopes():
    token = parse_token_response(200, ok_body(scope=None), "application/json", requested_scopes=[SCOPE, "s2"])
    assert token.scope == f"{SCOPE} s2"


def grant_error(status: int, body: bytes, content_type: str | None = "application/json") -> TokenGrantError:
    with pytest.raises(TokenGrantError) as caught:
        parse_token_response(status, body, content_type)
    return caught.value


def test_oauth_error_is_reported_with_its_description():
    body = json.dumps({"error": "invalid_scope", "error_description": "score not allowed"}).encode()
    error = grant_error(400, body)
    assert (error.status_code, error.error, error.description) == (400, "invalid_scope", "score not allowed")
    assert "invalid_scope" in str(error)


def test_non_json_refusal_is_reported_as_bounded_text():
    error = grant_error(502, b"<html>Bad gateway</html>" + b"x" * 10_000, "text/html")
    assert (error.error, error.description[:24]) == ("http_error", "<html>Bad gateway</html>")
    assert len(error.description) <= 2048


def test_empty_refusal_still_says_something():
    assert grant_error(401, b"", None).description


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b"[]", "application/json"),
        (ok_body(), "text/html"),
        (ok_body(access_token=None), "application/json"),
        (ok_body(token_type=""), "application/json"),
        (ok_body(expires_in=None), "application/json"),
        (ok_body(expires_in="3600"), "application/json"),
        (ok_body(expires_in=True), "application/json"),
        (ok_body(expires_in=-1), "application/json"),
    ],
)
def test_malformed_success_is_refused(body, content_type):
    error = grant_error(200, body, content_type)
    assert (error.status_code, error.error) == (200, "invalid_response")
