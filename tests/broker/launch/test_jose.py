"""The compact JWS layer against a signer and a verifier written here on `cryptography` alone (RFC 7518 §3), so
that joserfc is checked against another implementation: what either side signs, the other verifies.
"""

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import JoseError as JoseLibraryError
from joserfc.jwk import Key

from broker.launch import jose
from tests.broker.launch.helpers import NOW, b64url, decode_part, new_key, public_set, sign_jws, sign_payload

CLAIMS = {"iss": "https://lms.example.edu", "sub": "user-1", "exp": NOW + 60}


HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def signature_by_cryptography(key: Key, alg: str, data: bytes) -> bytes:
    digest = HASHES[alg[2:]]
    private_key = key.private_key
    if alg.startswith("RS"):
        return private_key.sign(data, padding.PKCS1v15(), digest)
    if alg.startswith("PS"):
        return private_key.sign(data, padding.PSS(padding.MGF1(digest), digest.digest_size), digest)
    r, s = decode_dss_signature(private_key.sign(data, ec.ECDSA(digest)))
    size = (private_key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@pytest.mark.parametrize(
    ("alg", "kty", "crv"),
    [
        ("RS256", "RSA", ""),
        ("RS512", "RSA", ""),
        ("PS256", "RSA", ""),
        ("PS384", "RSA", ""),
        ("ES256", "EC", "P-256"),
        ("ES384", "EC", "P-384"),
    ],
)
def test_tokens_signed_with_cryptography_verify(alg: str, kty: str, crv: str) -> None:
    key = new_key("k1", kty=kty, **({"crv": crv} if crv else {}))
    signing_input = f"{b64url(json.dumps({'alg': alg, 'kid': 'k1'}).encode())}.{b64url(json.dumps(CLAIMS).encode())}"
    token = f"{signing_input}.{b64url(signature_by_cryptography(key, alg, signing_input.encode()))}"
    assert jose.verify(token, public_set(key), {alg}) == CLAIMS


@pytest.mark.parametrize("alg", ["PS256", "ES256"])
def test_a_signature_of_other_data_is_refused(alg: str) -> None:
    key = new_key("k1", kty="EC" if alg == "ES256" else "RSA")
    first, second = sign_jws(CLAIMS, key, alg=alg), sign_jws({**CLAIMS, "sub": "admin"}, key, alg=alg)
    spliced = ".".join([*second.split(".")[:2], first.split(".")[2]])
    with pytest.raises(jose.JoseError) as caught:
        jose.verify(spliced, public_set(key), {alg})
    assert caught.value.field == "signature"


def test_an_es256_signature_of_the_wrong_length_is_refused() -> None:
    key = new_key("k1", kty="EC")
    token = sign_jws(CLAIMS, key, alg="ES256")
    with pytest.raises(jose.JoseError, match="signature"):
        jose.verify(token[:-8], public_set(key), {"ES256"})


def test_a_critical_header_extension_is_refused() -> None:
    key = new_key("k1")
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
    key = new_key("k1")
    token = sign_payload(json.dumps(CLAIMS).encode(), key, {"alg": "RS256", "kid": "k1", **extra})
    assert jose.verify(token, public_set(key), {"RS256"}) == CLAIMS


def test_what_the_broker_signs_cryptography_verifies(tenant_key: Key) -> None:
    token = jose.sign({"sub": "x"}, tenant_key, now=NOW, lifetime=300)
    signing_input, _, signature = token.rpartition(".")
    signature_bytes = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    # Raises InvalidSignature unless it is an RS256 signature of the signing input by the tenant's key.
    tenant_key.public_key.verify(signature_bytes, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert decode_part(token, 1) == {"sub": "x", "iat": NOW, "exp": NOW + 300}
    assert decode_part(token, 0) == {"alg": "RS256", "kid": "tenant-1", "typ": "JWT"}


def test_signing_needs_an_rsa_key() -> None:
    with pytest.raises(ValueError, match="RSA"):
        jose.sign({}, new_key("e", kty="EC"), now=NOW, lifetime=60)


# Pieces of compact tokens: headers a platform or an attacker might send, payloads, and segments that are not
# base64url (padding, the standard alphabet, stray bits, other bytes).
_headers = st.one_of(
    st.fixed_dictionaries({"alg": st.sampled_from(["RS256", "ES256", "none", 1])}, optional={
        "kid": st.one_of(st.text(max_size=3), st.integers()),
        "b64": st.sampled_from([True, False, 0, None]),
        "crit": st.sampled_from([["b64"], ["exp"], "b64", []]),
        "typ": st.sampled_from(["JWT", 7]),
    }),
    st.sampled_from([[], "alg", 1, {"kid": "k"}]),
).map(lambda value: b64url(json.dumps(value).encode()))
# A header's JSON in each encoding json.loads reads bytes in (with and without a byte order mark), or broken.
_encoded_headers = st.sampled_from(
    [*(json.dumps({"alg": "RS256"}).encode(encoding) for encoding in ("utf-16", "utf-16-le", "utf-32", "utf-8-sig")),
     b'{\x00"alg": "RS256"}', b'{"alg": "\xed\xa0\x80"}', b'{"alg": "\xff"}', b"{"]
).map(b64url)  # fmt: skip
_payloads = st.sampled_from([b'{"sub":"user-1"}', b"[]", b"", b"\xff", b'{"a":1,"a":2}']).map(b64url)
_odd_segments = st.one_of(
    st.text(alphabet="AQgwYWJhb-_+/=.\n%", max_size=9),
    st.sampled_from(["YQ", "YR", "YWI", "YWJ", "YQ==", "Y", "e30", "e30=", "e3", "eyJ9"]),
)


def _as_joserfc_reads(token: str) -> object:
    """The header and claims joserfc's extract_compact gives a token, or the field of the refusal."""
    try:
        signed = jws.extract_compact(token.encode("ascii"), registry=jose._REGISTRY)
    except (JoseLibraryError, ValueError, RecursionError):
        return "token"
    header = signed.protected
    if not isinstance(header, dict):
        return "token"  # a JSON string holding "alg" passes joserfc's check; the broker refuses what is no object
    try:
        return header, jose._claims(signed.payload)
    except jose.JoseError as error:
        return error.field


def _as_broker_reads(token: str) -> object:
    try:
        return jose.decode_unverified(token)
    except jose.JoseError as error:
        return error.field


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(
    header=st.one_of(_headers, _encoded_headers, _odd_segments),
    payload=st.one_of(_payloads, _odd_segments),
    signature=st.one_of(st.just("c2ln"), _odd_segments),
)
def test_a_token_is_read_as_joserfc_reads_it(header: str, payload: str, signature: str) -> None:
    token = f"{header}.{payload}.{signature}"
    assert _as_broker_reads(token) == _as_joserfc_reads(token)


def test_a_segment_over_joserfcs_size_limits_is_refused() -> None:
    header = b64url(json.dumps({"alg": "RS256", "x": "a" * 20_000}).encode())
    with pytest.raises(jose.JoseError, match="size limits"):
        jose.decode_unverified(f"{header}.{b64url(b'{}')}.c2ln")
