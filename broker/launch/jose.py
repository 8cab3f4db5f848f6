"""Compact JWS pieces shared by the launch documents: sign with a tenant key, read, pick a key, verify.

Signing, reading and verifying are joserfc's; the broker's own rules sit on top: which algorithms a caller allows
(checked before any key is touched), no critical header extensions, exactly one key per token, strict JSON
and times that are times.
"""

import base64
import json
import secrets
from collections.abc import Collection, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc import jws
from joserfc.errors import JoseError as LibraryError
from joserfc.jwk import Key, KeySet

from broker import untrusted_json
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
# Unknown header parameters are ignored, as RFC 7515 allows: platforms add their own. A header carrying a
# certificate chain (`x5c`) is a few kilobytes, more than joserfc's default allows.
_REGISTRY = jws.JWSRegistry(algorithms=sorted(_KEY_TYPES), strict_check_header=False)
_REGISTRY.max_header_length = 16_384
SIGNING_ALG = "RS256"
_PKCS1 = PKCS1v15()
# json.dumps with separators builds an encoder at each call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
MAX_LIFETIME = 300
# Times are seconds since 1970 up to the last second of year 9999: anything else is no date any platform means.
LATEST_TIME = 253_402_300_799


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


def sign(claims: Mapping[str, Any], key: Key, *, now: float, lifetime: int) -> str:
    """Sign `claims`, stamped with `iat` and `exp`, as a compact RS256 JWS naming the key's `kid`."""
    # Every token the broker signs is read at once by its receiver, so none needs to outlive five minutes.
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a signed token lives between 1 and {MAX_LIFETIME} s, not {lifetime}")
    if not key.is_private:
        raise ValueError("signing needs a private key")
    if not key.kid:
        raise ValueError("the signing key has no kid; receivers find our key by it")
    iat = int(now)
    header = _COMPACT_JSON.encode({"alg": SIGNING_ALG, "kid": key.kid, "typ": "JWT"}).encode()
    payload = _COMPACT_JSON.encode({**claims, "iat": iat, "exp": iat + lifetime}).encode()
    # The compact form by hand, signed by `cryptography` through the key's own operation check: joserfc's
    # serialize_compact checks a header we wrote ourselves, and cost 8% more than the RSA signature (README).
    signing_input = _b64url(header) + b"." + _b64url(payload)
    private_key = key.get_op_key("sign")
    if not isinstance(private_key, RSAPrivateKey):
        raise ValueError(f"{SIGNING_ALG} signing needs an RSA key")
    return (signing_input + b"." + _b64url(private_key.sign(signing_input, _PKCS1, SHA256()))).decode("ascii")


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, not verified: only for choosing the keys to verify with."""
    signed = _extract(token)
    return signed.headers(), _claims(signed.payload)


def verify(token: str, keys: KeySet, algs: Collection[str]) -> dict[str, Any]:
    """The claims of `token` once its `alg` is allowed and its signature verifies with a key of `keys`."""
    signed = _extract(token)
    header = signed.headers()
    alg = header.get("alg")
    # Checked before any key is touched, so a forged header cannot pick the verification method.
    if not isinstance(alg, str) or alg not in algs or alg not in _KEY_TYPES:
        raise JoseError("alg", f"{alg!r} is not allowed; expected one of {', '.join(sorted(algs))}")
    if "crit" in header:
        # RFC 7515 §4.1.11: a receiver must refuse critical extensions it does not understand, and we know none.
        raise JoseError("crit", "critical header extensions are not supported")
    key = select_key(keys, header.get("kid"), alg)
    try:
        holds = jws.validate_compact(signed, key, registry=_REGISTRY)
    except (LibraryError, ValueError) as exc:
        raise JoseError("signature", f"cannot be checked with key {key.kid!r}") from exc
    if not holds:
        raise JoseError("signature", f"does not verify with key {key.kid!r}")
    return _claims(signed.payload)


def select_key(keys: KeySet, kid: object, alg: str) -> Key:
    """The one key of `keys` that `kid` names and that can verify `alg`."""
    if kid is None:
        fitting = [key for key in keys if _fits(key, alg)]
        if len(fitting) != 1:
            raise JoseError("kid", f"missing, and the key set has {len(fitting)} keys for {alg}")
        return fitting[0]
    if not isinstance(kid, str):
        raise JoseError("kid", "must be a string")
    named = [key for key in keys if key.kid == kid]
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
    """The time claim `name` (`exp`, `iat`): a JSON number of seconds since 1970, refused when it is anything else."""
    value = claims.get(name)
    # bool is an int subclass; `true` is not a timestamp. A float may be inf or NaN (`1e309`), which every
    # comparison would let through; an int may be too large for any clock.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= LATEST_TIME:
        raise JoseError(name, "missing, or not a time (seconds since 1970 as a JSON number)")
    return value


def _fits(key: Key, alg: str) -> bool:
    kty, crv = _KEY_TYPES[alg]
    return (
        key.key_type == kty
        and key.get("crv") == crv
        and key.get("use", "sig") == "sig"
        and key.get("alg", alg) == alg
    )


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _extract(token: str) -> jws.CompactSignature:
    if not isinstance(token, str) or token.count(".") != 2:
        raise JoseError("token", "not a compact JWS (three dot-separated parts)")
    try:
        return jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
    # RecursionError: a hostile, deeply nested header must be refused, not crash the request.
    except (LibraryError, ValueError, RecursionError) as exc:
        raise JoseError("token", "not a compact JWS of base64url-encoded JSON within the size limits") from exc


def _claims(payload: bytes | None) -> dict[str, Any]:
    try:
        value = untrusted_json.loads(payload or b"")
    except ValueError as exc:
        raise JoseError("payload", f"not JSON the broker accepts: {exc}") from exc
    if not isinstance(value, dict):
        raise JoseError("payload", "not a JSON object")
    return value
