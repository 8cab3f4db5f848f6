"""The compact JWS layer against jwcrypto: what either side signs, the other verifies, for every allowed alg."""

import base64
import json

import pytest
from jwcrypto import jwk, jws

from broker.launch import jose
from tests.broker.launch.helpers import NOW, decode_part, public_set, sign_jws, sign_payload

CLAIMS = {"iss": "https://lms.example.edu", "sub": "user-1", "exp": NOW + 60}


@pytest.mark.parametrize(
    ("alg", "params"),
    [
        ("RS256", {"kty": "RSA", "size": 2048}),
        ("RS512", {"kty": "RSA", "size": 2048}),
        ("PS256", {"kty": "RSA", "size": 2048}),
        ("PS384", {"kty": "RSA", "size": 2048}),
        ("ES256", {"kty": "EC", "crv": "P-256"}),
        ("ES384", {"kty": "EC", "crv": "P-384"}),
    ],
)
def test_tokens_signed_by_jwcrypto_verify(alg: str, params: dict[str, object]) -> None:
    key = jwk.JWK.generate(kid="k1", **params)
    token = sign_jws(CLAIMS, key, alg=alg)
    assert jose.verify(token, public_set(key), {alg}) == CLAIMS


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_a_signature_of_other_data_is_refused(alg: str) -> None:
    key = jwk.JWK.generate(kid="k1", **({"kty": "EC", "crv": "P-256"} if alg == "ES256" else {"kty": "RSA"}))
    first, second = sign_jws(CLAIMS, key, alg=alg), sign_jws({**CLAIMS, "sub": "admin"}, key, alg=alg)
    spliced = ".".join([*second.split(".")[:2], first.split(".")[2]])
    with pytest.raises(jose.JoseError) as caught:
        jose.verify(spliced, public_set(key), {alg})
    assert caught.value.field == "signature"


def test_an_es256_signature_of_the_wrong_length_is_refused() -> None:
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid="k1")
    token = sign_jws(CLAIMS, key, alg="ES256")
    with pytest.raises(jose.JoseError, match="signature"):
        jose.verify(token[:-8], public_set(key), {"ES256"})


def test_a_critical_header_extension_is_refused() -> None:
    key = jwk.JWK.generate(kty="RSA", size=2048, kid="k1")
    _, payload, signature = sign_jws(CLAIMS, key).split(".")
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"k1","crit":["x"],"x":1}').rstrip(b"=").decode()
    with pytest.raises(jose.JoseError) as caught:
        jose.verify(f"{header}.{payload}.{signature}", public_set(key), {"RS256"})
    assert caught.value.field == "crit"


@pytest.mark.parametrize(
    "extra",
    [
        {"x-platform": "moodle"},
        # A certificate chain makes a header of a few kilobytes.
        {"x5c": [base64.b64encode(bytes(range(256)) * 8).decode()] * 2},
    ],
)
def test_header_parameters_the_broker_does_not_use_are_ignored(extra: dict[str, object]) -> None:
    key = jwk.JWK.generate(kty="RSA", size=2048, kid="k1")
    token = sign_payload(json.dumps(CLAIMS).encode(), key, {"alg": "RS256", "kid": "k1", **extra})
    assert jose.verify(token, public_set(key), {"RS256"}) == CLAIMS


def test_what_the_broker_signs_jwcrypto_verifies(tenant_key: jwk.JWK) -> None:
    token = jose.sign({"sub": "x"}, tenant_key, now=NOW, lifetime=300)
    checker = jws.JWS()
    checker.deserialize(token)
    checker.verify(jwk.JWK(**tenant_key.export_public(as_dict=True)))
    assert json.loads(checker.payload) == {"sub": "x", "iat": NOW, "exp": NOW + 300}
    assert decode_part(token, 0) == {"alg": "RS256", "kid": "tenant-1", "typ": "JWT"}


def test_signing_needs_an_rsa_key() -> None:
    with pytest.raises(ValueError, match="RSA"):
        jose.sign({}, jwk.JWK.generate(kty="EC", crv="P-256", kid="e"), now=NOW, lifetime=60)
