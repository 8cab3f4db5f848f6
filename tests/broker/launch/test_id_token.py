import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc.jwk import KeySet

from broker.launch.id_token import IdTokenError, UnknownKeyIdError, peek_unverified, validate_id_token
from tests.broker.launch.helpers import (
    CLIENT_ID,
    ISSUER,
    MALFORMED_TIMES,
    NONCE,
    NOW,
    new_key,
    public_set,
    sign_jws,
    sign_payload,
    with_raw_claim,
)


def validate(token: str, keys: KeySet, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "nonce": NONCE, "now": NOW}
    return validate_id_token(token, keys=keys, **(options | overrides))


def refusal(token: str, keys: KeySet, **overrides: Any) -> IdTokenError:
    with pytest.raises(IdTokenError) as caught:
        validate(token, keys, **overrides)
    return caught.value


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_id_token_gives_its_claims(platform_key, platform_keys, id_token_claims):
    claims = validate(sign_jws(id_token_claims, platform_key), platform_keys)
    assert claims == id_token_claims


def test_es256_token_verifies_with_an_ec_key(id_token_claims):
    key = new_key("ec-1", kty="EC")
    token = sign_jws(id_token_claims, key, alg="ES256")
    assert validate(token, public_set(key))["sub"] == "user-42"


def test_token_without_kid_uses_the_only_fitting_key(platform_key, platform_keys, id_token_claims):
    token = sign_jws(id_token_claims, platform_key, kid=None)
    assert validate(token, platform_keys)["iss"] == ISSUER


def test_token_without_kid_is_refused_when_several_keys_fit(platform_key, id_token_claims):
    other = new_key("platform-2")
    token = sign_jws(id_token_claims, platform_key, kid=None)
    assert refusal(token, public_set(platform_key, other)).field == "kid"


def test_unknown_kid_asks_for_a_jwks_refetch(platform_keys, id_token_claims):
    rotated = new_key("platform-2")
    with pytest.raises(UnknownKeyIdError) as caught:
        validate(sign_jws(id_token_claims, rotated), platform_keys)
    assert caught.value.kid == "platform-2"
    assert isinstance(caught.value, IdTokenError)


def test_signature_by_another_key_with_the_same_kid_is_refused(platform_keys, id_token_claims):
    impostor = new_key("platform-1")
    assert refusal(sign_jws(id_token_claims, impostor), platform_keys).field == "signature"


def test_tampered_claims_are_refused(platform_key, platform_keys, id_token_claims):
    header, _, signature = sign_jws(id_token_claims, platform_key).split(".")
    forged = f"{header}.{b64(id_token_claims | {'sub': 'admin'})}.{signature}"
    assert refusal(forged, platform_keys).field == "signature"


def test_alg_none_is_refused(platform_keys, id_token_claims):
    token = f"{b64({'alg': 'none', 'kid': 'platform-1'})}.{b64(id_token_claims)}."
    error = refusal(token, platform_keys)
    assert error.field == "alg"
    assert "'none' is not allowed" in error.reason


@pytest.mark.parametrize("alg", [["RS256"], None, "RSA-OAEP"])
def test_alg_that_is_not_a_signature_algorithm_name_is_refused(platform_keys, id_token_claims, alg):
    token = f"{b64({'alg': alg, 'kid': 'platform-1'})}.{b64(id_token_claims)}.c2ln"
    assert refusal(token, platform_keys).field == "alg"


def test_deeply_nested_payload_is_refused_not_crashing():
    token = f"{b64({'alg': 'RS256'})}.{base64.urlsafe_b64encode(b'[' * 100_000).decode()}.c2ln"
    with pytest.raises(IdTokenError):
        peek_unverified(token)


def test_hs256_signed_with_the_public_key_is_refused(platform_key, platform_keys, id_token_claims):
    # The classic confusion attack: the platform's public key, known to all, used as an HMAC secret.
    secret = platform_key.as_pem(private=False)
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'platform-1'})}.{b64(id_token_claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert refusal(token, platform_keys).field == "alg"


def test_key_of_the_wrong_type_for_alg_is_refused(platform_key, platform_keys, id_token_claims):
    ec_key = new_key(kty="EC")
    token = sign_jws(id_token_claims, ec_key, alg="ES256", kid="platform-1")
    assert refusal(token, platform_keys).field == "kid"


@pytest.mark.parametrize(
    "issuer", ["https://lms.example.edu/", "https://other.example.edu", "HTTPS://lms.example.edu"]
)
def test_issuer_must_match_exactly(platform_key, platform_keys, id_token_claims, issuer):
    token = sign_jws(id_token_claims | {"iss": issuer}, platform_key)
    assert refusal(token, platform_keys).field == "iss"


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"aud": "someone-else"}, "aud"),
        ({"aud": ["someone-else", "another"], "azp": "someone-else"}, "aud"),
        ({"aud": 123}, "aud"),
        ({"aud": [CLIENT_ID, "another"]}, "azp"),
        ({"aud": [CLIENT_ID, "another"], "azp": "another"}, "azp"),
        ({"azp": "another"}, "azp"),
    ],
)
def test_audience_refusals(platform_key, platform_keys, id_token_claims, changes, claim):
    token = sign_jws(id_token_claims | changes, platform_key)
    assert refusal(token, platform_keys).field == claim


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": [CLIENT_ID]},
        {"aud": [CLIENT_ID, "another"], "azp": CLIENT_ID},
        {"azp": CLIENT_ID},
    ],
)
def test_audience_accepted_forms(platform_key, platform_keys, id_token_claims, changes):
    assert validate(sign_jws(id_token_claims | changes, platform_key), platform_keys)["sub"] == "user-42"


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"exp": NOW - 61}, "exp"),
        ({"exp": None}, "exp"),
        ({"exp": True}, "exp"),
        ({"iat": NOW + 61}, "iat"),
        ({"iat": NOW - 3601, "exp": NOW + 60}, "iat"),
        ({"iat": "yesterday"}, "iat"),
        ({"nonce": "nonce-other"}, "nonce"),
        ({"nonce": None}, "nonce"),
    ],
)
def test_time_and_nonce_refusals(platform_key, platform_keys, id_token_claims, changes, claim):
    claims = {k: v for k, v in (id_token_claims | changes).items() if v is not None}
    assert refusal(sign_jws(claims, platform_key), platform_keys).field == claim


@pytest.mark.parametrize("claim", ["exp", "iat"])
@pytest.mark.parametrize(("raw", "field"), MALFORMED_TIMES)
def test_a_malformed_time_is_refused(platform_key, platform_keys, id_token_claims, claim, raw, field):
    token = sign_payload(with_raw_claim(id_token_claims, claim, raw), platform_key)
    error = refusal(token, platform_keys)
    assert error.field == (field or claim)
    if field is None:
        assert "not a time" in error.reason


def test_a_time_with_a_fraction_is_a_time(platform_key, platform_keys, id_token_claims):
    token = sign_payload(with_raw_claim(id_token_claims, "exp", f"{NOW + 60}.5"), platform_key)
    assert validate(token, platform_keys)["exp"] == NOW + 60.5


def test_clock_skew_within_leeway_is_accepted(platform_key, platform_keys, id_token_claims):
    token = sign_jws(id_token_claims | {"iat": NOW + 50, "exp": NOW - 50}, platform_key)
    assert validate(token, platform_keys)["nonce"] == NONCE


def test_error_message_names_the_claim_and_the_rule(platform_key, platform_keys, id_token_claims):
    token = sign_jws(id_token_claims | {"iss": ISSUER + "/"}, platform_key)
    message = str(refusal(token, platform_keys))
    assert "'iss'" in message
    assert "expected exactly 'https://lms.example.edu'" in message


def test_peek_reads_issuer_and_kid_before_verification(platform_key, id_token_claims):
    header, claims = peek_unverified(sign_jws(id_token_claims, platform_key))
    assert (header["kid"], claims["iss"], claims["aud"]) == ("platform-1", ISSUER, CLIENT_ID)


@pytest.mark.parametrize(
    "token", ["", "not-a-jwt", "a.b", "a.b.c.d.e", "%%%.e30.", f"{b64({'alg': 'RS256'})}.WzFd.sig"]
)
def test_peek_refuses_malformed_tokens(token):
    with pytest.raises(IdTokenError):
        peek_unverified(token)


def test_malformed_token_is_refused_by_validation(platform_keys):
    assert refusal("garbage", platform_keys).field == "token"
