"""Shared values and signing helpers for the launch tests."""

import base64
import json
from typing import Any

from joserfc.jwk import JWKRegistry, Key, KeySet
from joserfc.jws import JWSRegistry

NOW = 1_700_000_000
ISSUER = "https://lms.example.edu"
CLIENT_ID = "client-123"
NONCE = "nonce-abc"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"

# Times as JSON that no honest platform sends, and the field each is refused under (None: the claim itself).
# NaN and Infinity are not JSON, so the whole payload is refused. Compared as numbers, NaN and inf (`1e309`)
# would never expire (`exp`) and never age (`iat`); the rest are no date a clock reaches, or not numbers.
MALFORMED_TIMES = [
    ("Infinity", "payload"),
    ("-Infinity", "payload"),
    ("NaN", "payload"),
    ("1e309", None),
    ("-1e309", None),
    ("1" + "0" * 30, None),
    ("253402300800", None),
    ("-1", None),
    ("true", None),
    ("false", None),
    ('"1700000000"', None),
    ("null", None),
    ("[1700000000]", None),
    ("{}", None),
]


def new_key(kid: str | None = None, *, kty: str = "RSA", **parameters: str) -> Key:
    """A fresh private key: RSA-2048, or EC on `crv` (P-256 unless named)."""
    size_or_curve: str | int = parameters.pop("crv", "P-256") if kty == "EC" else 2048
    return JWKRegistry.generate_key(kty, size_or_curve, {**parameters, **({"kid": kid} if kid else {})})


def public_set(*keys: Key) -> KeySet:
    return KeySet([JWKRegistry.import_key(key.as_dict(private=False)) for key in keys])


def sign_jws(claims: dict[str, Any], key: Key, *, alg: str = "RS256", kid: str | None = "") -> str:
    """Sign like a platform would; `kid=None` leaves it out of the header, "" uses the key's own."""
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid or key["kid"]
    return sign_payload(json.dumps(claims).encode(), key, header)


def sign_payload(payload: bytes, key: Key, header: dict[str, Any] | None = None) -> str:
    """Sign `payload` bytes as they are, so a test can send JSON that no encoder writes (`1e309`, `NaN`), under
    any header: the signer checks nothing, as a careless or hostile platform would not."""
    header = header or {"alg": "RS256", "typ": "JWT", "kid": key["kid"]}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    signature = JWSRegistry.algorithms[header["alg"]].sign(signing_input.encode(), key)
    return f"{signing_input}.{b64url(signature)}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def decode_part(token: str, index: int) -> dict[str, Any]:
    """One JSON part of a compact JWS (0 header, 1 claims), read without verifying, as a receiver would."""
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def with_raw_claim(claims: dict[str, Any], name: str, raw: str) -> bytes:
    """The JSON of `claims` with claim `name` written as the literal text `raw`."""
    marker = "\x00raw\x00"
    return json.dumps(claims | {name: marker}).replace(json.dumps(marker), raw).encode()


def valid_id_token_claims() -> dict[str, Any]:
    """The claims of a valid resource link launch from the platform, as of NOW."""
    return {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "user-42",
        "iat": NOW - 5,
        "exp": NOW + 300,
        "nonce": NONCE,
        LTI + "message_type": "LtiResourceLinkRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "dep-1",
        LTI + "target_link_uri": "https://broker.example.com/t/acme/tool",
        LTI + "resource_link": {"id": "rl-7", "title": "Week 1"},
        LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
    }
