"""Shared values and signing helpers for the launch tests."""

import base64
import json
from typing import Any

from jwcrypto import jwk, jws

NOW = 1_700_000_000
ISSUER = "https://lms.example.edu"
CLIENT_ID = "client-123"
NONCE = "nonce-abc"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


def public_set(*keys: jwk.JWK) -> jwk.JWKSet:
    key_set = jwk.JWKSet()
    for key in keys:
        key_set.add(jwk.JWK(**key.export_public(as_dict=True)))
    return key_set


def sign_jws(claims: dict[str, Any], key: jwk.JWK, *, alg: str = "RS256", kid: str | None = "") -> str:
    """Sign like a platform would; `kid=None` leaves it out of the header, "" uses the key's own."""
    header: dict[str, str] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid or key["kid"]
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg=alg, protected=header)
    return token.serialize(compact=True)


def decode_part(token: str, index: int) -> dict[str, Any]:
    """One JSON part of a compact JWS (0 header, 1 claims), read without verifying, as a receiver would."""
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
