"""JWS in-process. Verification: the broker's `jose.verify` (joserfc under the broker's header and key rules) of an
id_token against the floor, what any verifier must do for the same token: decode the signature, check it with
`cryptography`, parse the claims with `json`; RS256 with a 2048-bit key and ES256; the claims are a resource link
launch's. Signing: `jose.sign` of the same claims with a tenant key (RS256, 2048-bit) against `json` and
`cryptography` alone. Times are the process's CPU time, so that other work on the machine does not count. Best of
ROUNDS alternating rounds, µs per token.
"""

from __future__ import annotations

import base64
import functools
import json
import time
import timeit
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc.jwk import ECKey, Key, KeySet, RSAKey

from broker.launch import jose
from tenants.key_generator import generate_signing_key

ROUNDS = 30
NUMBER = 100
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "https://lms.example.edu",
        "aud": "client-1",
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n" * 24,
        "name": "Ada Lovelace",
        "email": "ada@example.edu",
        LTI + "message_type": "LtiResourceLinkRequest",
        LTI + "version": "1.3.0",
        LTI + "deployment_id": "1",
        LTI + "target_link_uri": "https://broker.example.com/t/acme/lti/launch",
        LTI + "resource_link": {"id": "resource-1", "title": "Week 1"},
        LTI + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
        LTI + "context": {"id": "course-1", "label": "MATH 101", "title": "Algebra"},
    }


def _floor(token: str, key: Key) -> Callable[[], dict[str, Any]]:
    public_key = key.public_key

    def verify() -> dict[str, Any]:
        signing_input, _, signature_part = token.rpartition(".")
        signature = base64.urlsafe_b64decode(signature_part + "=" * (-len(signature_part) % 4))
        data = signing_input.encode()
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        payload = signing_input.partition(".")[2]
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims

    return verify


def _signing_floor(claims: dict[str, Any], key: RSAKey) -> Callable[[], str]:
    private_key = key.private_key
    if private_key is None:
        raise ValueError("signing needs the key's private half")
    header = _b64url(json.dumps({"alg": "RS256", "kid": key.kid, "typ": "JWT"}).encode())

    def sign() -> str:
        signing_input = f"{header}.{_b64url(json.dumps(claims).encode())}"
        signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    return sign


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _microseconds(*functions: Callable[[], object]) -> list[float]:
    """The best round of each function, the rounds alternating so that a busy moment hits them all alike."""
    best = [float("inf")] * len(functions)
    for _ in range(ROUNDS):
        for index, function in enumerate(functions):
            best[index] = min(best[index], timeit.timeit(function, number=NUMBER, timer=time.process_time))
    return [seconds / NUMBER * 1e6 for seconds in best]


def main() -> None:
    claims = _claims()
    print(f"id_token verification in-process (best of {ROUNDS} alternating rounds of {NUMBER}, µs per token):")
    for alg, key in (
        ("RS256", RSAKey.generate_key(2048, {"kid": "rsa-1"})),
        ("ES256", ECKey.generate_key("P-256", {"kid": "ec-1"})),
    ):
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        token = jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[alg])
        keys = KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
        broker = functools.partial(jose.verify, token, keys, {alg})
        floor = _floor(token, key)
        if broker() != claims or floor() != claims:
            raise RuntimeError("the token does not verify")
        spent, least = _microseconds(broker, floor)
        print(f"  {alg}: broker {spent:6.1f} µs   floor {least:6.1f} µs   ({spent / least:4.2f} x the floor)")
    tenant_key = generate_signing_key()
    signing = functools.partial(jose.sign, claims, tenant_key, now=time.time(), lifetime=300)
    spent, least = _microseconds(signing, _signing_floor(claims, tenant_key))
    print(f"Signing (RS256, 2048-bit), µs per token: broker {spent:6.1f} µs   floor {least:6.1f} µs   "
          f"({spent / least:4.2f} x the floor)")


if __name__ == "__main__":
    main()
