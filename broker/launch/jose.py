"""Compact JWS pieces shared by the launch documents: sign with a tenant key, read, pick a key, verify.

Keys are jwcrypto JWKs (they come from JWKS documents), but signing and verifying call `cryptography`
directly on the key objects jwcrypto caches: jwcrypto's JWS objects deep-copy their state on every call,
which costs more than the RSA verification itself on the launch hot path.
"""

import base64
import binascii
import json
import secrets
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwcrypto import jwk
from jwcrypto.common import JWException

from broker.refusals import FieldError

# The key type (and curve) each verifiable algorithm needs. Symmetric and `none` algorithms are absent on
# purpose: a platform's public key must never double as an HMAC secret.
_KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
SIGNING_ALG = "RS256"
MAX_LIFETIME = 300


class JoseError(FieldError):
    subject = "JWT"


class UnknownKeyId(JoseError):
    """The token names a key the set does not hold; the caller may refetch the set once and retry."""

    def __init__(self, kid: str) -> None:
        super().__init__("kid", f"no key {kid!r} in the key set")
        self.kid = kid


def random_token() -> str:
    """A fresh unguessable value for `jti` and `nonce`."""
    return secrets.token_urlsafe(18)


def sign(claims: Mapping[str, Any], key: jwk.JWK, *, now: float, lifetime: int) -> str:
    """Sign `claims`, stamped with `iat` and `exp`, as a compact RS256 JWS naming the key's `kid`."""
    # Every token the broker signs is read at once by its receiver, so none needs to outlive five minutes.
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a signed token lives between 1 and {MAX_LIFETIME} s, not {lifetime}")
    if not key.has_private:
        raise ValueError("signing needs a private key")
    kid = key.get("kid")
    if not kid:
        raise ValueError("the signing key has no kid; receivers find our key by it")
    if key.get("kty") != "RSA":
        raise ValueError(f"{SIGNING_ALG} signing needs an RSA key")
    iat = int(now)
    header = {"alg": SIGNING_ALG, "kid": kid, "typ": "JWT"}
    signing_input = _b64url_json(header) + b"." + _b64url_json({**claims, "iat": iat, "exp": iat + lifetime})
    private_key = key.get_op_key("sign")
    signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64url_encode(signature)).decode("ascii")


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, not verified: only for choosing the keys to verify with."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise JoseError("token", "not a compact JWS (three dot-separated parts)")
    return _json_object(parts[0], "header"), _json_object(parts[1], "payload")


def verify(token: str, keys: jwk.JWKSet, algs: Collection[str]) -> dict[str, Any]:
    """The claims of `token` once its `alg` is allowed and its signature verifies with a key of `keys`."""
    header, claims = decode_unverified(token)
    alg = header.get("alg")
    # Checked before any key is touched, so a forged header cannot pick the verification method.
    if not isinstance(alg, str) or alg not in algs or alg not in _KEY_TYPES:
        raise JoseError("alg", f"{alg!r} is not allowed; expected one of {', '.join(sorted(algs))}")
    if "crit" in header:
        # RFC 7515 §4.1.11: a receiver must refuse critical extensions it does not understand, and we know none.
        raise JoseError("crit", "critical header extensions are not supported")
    key = select_key(keys, header.get("kid"), alg)
    signing_input, _, encoded_signature = token.rpartition(".")
    try:
        signature = _b64url_decode(encoded_signature)
        public_key = key.get_op_key("verify")
    except (binascii.Error, JWException, ValueError) as exc:
        raise JoseError("signature", f"cannot be checked with key {key.get('kid')!r}") from exc
    if not _signature_holds(public_key, alg, signing_input.encode("ascii"), signature):
        raise JoseError("signature", f"does not verify with key {key.get('kid')!r}")
    return claims


def _signature_holds(public_key: Any, alg: str, data: bytes, signature: bytes) -> bool:
    """RFC 7518 §3: PKCS#1 v1.5 for RS*, PSS with a salt as long as the hash for PS*, raw r||s for ES*."""
    digest = _HASHES[alg[2:]]()
    try:
        if alg.startswith("RS") and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), digest)
        elif alg.startswith("PS") and isinstance(public_key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            public_key.verify(signature, data, pss, digest)
        elif alg.startswith("ES") and isinstance(public_key, ec.EllipticCurvePublicKey):
            size = (public_key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def select_key(keys: jwk.JWKSet, kid: object, alg: str) -> jwk.JWK:
    """The one key of `keys` that `kid` names and that can verify `alg`."""
    if kid is None:
        fitting = [key for key in keys["keys"] if _fits(key, alg)]
        if len(fitting) != 1:
            raise JoseError("kid", f"missing, and the key set has {len(fitting)} keys for {alg}")
        return fitting[0]
    if not isinstance(kid, str):
        raise JoseError("kid", "must be a string")
    named = keys.get_keys(kid)
    if not named:
        raise UnknownKeyId(kid)
    fitting = [key for key in named if _fits(key, alg)]
    if len(fitting) != 1:
        raise JoseError("kid", f"names {len(fitting)} keys usable for {alg}; expected exactly one")
    return fitting[0]


def check_expiry(claims: Mapping[str, Any], *, now: float, leeway: int) -> None:
    if now > number_claim(claims, "exp") + leeway:
        raise JoseError("exp", "the token has expired")


def number_claim(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    # bool is an int subclass; `true` is not a timestamp.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JoseError(name, "missing or not a number")
    return value


def _fits(key: jwk.JWK, alg: str) -> bool:
    kty, crv = _KEY_TYPES[alg]
    return (
        key.get("kty") == kty
        and key.get("crv") == crv
        and key.get("use", "sig") == "sig"
        and key.get("alg", alg) == alg
    )


def _json_object(segment: str | bytes, part: str) -> dict[str, Any]:
    try:
        raw = segment if isinstance(segment, bytes) else _b64url_decode(segment)
        value = json.loads(raw)
    # RecursionError: a hostile, deeply nested document must be refused, not crash the request.
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise JoseError(part, "not base64url-encoded JSON") from exc
    if not isinstance(value, dict):
        raise JoseError(part, "not a JSON object")
    return value


def _b64url_json(value: Mapping[str, Any]) -> bytes:
    return _b64url_encode(json.dumps(value, separators=(",", ":")).encode())


def _b64url_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64url_decode(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.b64decode(padded, altchars=b"-_", validate=True)
