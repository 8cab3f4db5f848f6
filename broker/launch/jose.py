"""Compact JWS pieces shared by the launch documents: sign with a tenant key, read, pick a key, verify.

Verifying is joserfc's (its header checks, its algorithms' key checks and signature checks); the compact form is
read here, with joserfc's rules (its size limits, base64url without padding and with no stray bits, a JSON object
header naming `alg`, RFC 7797's unencoded payload only when `crit` names it) in a few calls instead of the ~60 its
`extract_compact` makes, each id_token post paying them. The broker's own rules sit on top: which algorithms a
caller allows (checked before any key is touched), no critical header extensions, exactly one key per token,
strict JSON and times that are times.
"""

import binascii
import json
import os
import weakref
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

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
# What joserfc's reading allows: sizes, and the last base64url character of a segment by its padding (the others
# would carry bits past the value's end).
_MAX_TOKEN = _REGISTRY.max_header_length + _REGISTRY.max_payload_length + _REGISTRY.max_signature_length
_SAFE_ENDINGS = (b"", b"AEIMQUYcgkosw048", b"AQgw")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_NOT_COMPACT = "not a compact JWS of base64url-encoded JSON within the size limits"
# json.dumps with separators builds an encoder at each call; json.loads's own decoder, called directly.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
_JSON = json.JSONDecoder()
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


def random_token(size: int = 18) -> str:
    """A fresh unguessable value for `jti` and `nonce`, of `size` random bytes: `secrets.token_urlsafe(size)`,
    written out in C calls (its own layers are four Python calls)."""
    return binascii.b2a_base64(os.urandom(size), newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode()


def sign(claims: Mapping[str, Any], key: Key, *, now: float, lifetime: int) -> str:
    """Sign `claims`, stamped with `iat` and `exp`, as a compact RS256 JWS naming the key's `kid`."""
    # Every token the broker signs is read at once by its receiver, so none needs to outlive five minutes.
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ValueError(f"a signed token lives between 1 and {MAX_LIFETIME} s, not {lifetime}")
    signer = _signer(key)
    iat = int(now)
    payload = _COMPACT_JSON.encode({**claims, "iat": iat, "exp": iat + lifetime}).encode()
    # The compact form by hand, signed by `cryptography`: joserfc's serialize_compact checks a header we wrote
    # ourselves, and cost 8% more than the RSA signature (README).
    signing_input = signer.header + _b64url(payload)
    return (signing_input + b"." + _b64url(signer.private_key.sign(signing_input, _PKCS1, SHA256()))).decode("ascii")


class _Signer(NamedTuple):
    key: weakref.ref[Key]
    header: bytes  # the header's segment and its dot
    private_key: RSAPrivateKey


# A key's checks and header, made once per key object: a tenant's key signs every launch of the tenant, and
# joserfc's accessors cost about 50 Python calls a token. By the object's id, the key held weakly so that an id
# reused by another object is never taken for it.
_SIGNERS: dict[int, _Signer] = {}
_MAX_SIGNERS = 4096


def _signer(key: Key) -> _Signer:
    found = _SIGNERS.get(id(key))
    if found is not None and found.key() is key:
        return found
    if not key.is_private:
        raise ValueError("signing needs a private key")
    if not key.kid:
        raise ValueError("the signing key has no kid; receivers find our key by it")
    private_key = key.get_op_key("sign")  # the key's own operation check (key_ops, use)
    if not isinstance(private_key, RSAPrivateKey):
        raise ValueError(f"{SIGNING_ALG} signing needs an RSA key")
    header = _COMPACT_JSON.encode({"alg": SIGNING_ALG, "kid": key.kid, "typ": "JWT"}).encode()
    signer = _Signer(weakref.ref(key), _b64url(header) + b".", private_key)
    if len(_SIGNERS) >= _MAX_SIGNERS:
        _SIGNERS.clear()
    _SIGNERS[id(key)] = signer
    return signer


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, not verified: only for choosing the keys to verify with."""
    compact = _extract(token)
    return dict(compact.header), _claims(compact.payload)


def verify(token: str, keys: KeySet, algs: Collection[str]) -> dict[str, Any]:
    """The claims of `token` once its `alg` is allowed and its signature verifies with a key of `keys`."""
    compact = _extract(token)
    header = compact.header
    alg = header.get("alg")
    # Checked before any key is touched, so a forged header cannot pick the verification method.
    if not isinstance(alg, str) or alg not in algs or alg not in _KEY_TYPES:
        raise JoseError("alg", f"{alg!r} is not allowed; expected one of {', '.join(sorted(algs))}")
    if "crit" in header:
        # RFC 7515 §4.1.11: a receiver must refuse critical extensions it does not understand, and we know none.
        raise JoseError("crit", "critical header extensions are not supported")
    key = select_key(keys, header.get("kid"), alg)
    try:
        # What joserfc's validate_compact does with one key: the header's registered values, the key for the
        # algorithm (its use, type and alg), then the signature (an unreadable one verifies nothing).
        _REGISTRY.check_header(header)
        algorithm = _REGISTRY.get_alg(alg)
        algorithm.check_key(key)
        signature = _b64decode(compact.signature)
        holds = signature is not None and algorithm.verify(compact.signing_input, signature, key)
    except (LibraryError, ValueError) as exc:
        raise JoseError("signature", f"cannot be checked with key {key.kid!r}") from exc
    if not holds:
        raise JoseError("signature", f"does not verify with key {key.kid!r}")
    return _claims(compact.payload)


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
    # base64.urlsafe_b64encode without padding, in C calls only (its own layers are two Python calls).
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


class _Compact(NamedTuple):
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes  # still base64url: read only when a key checks it


def _extract(token: str) -> _Compact:
    if not isinstance(token, str) or token.count(".") != 2:
        raise JoseError("token", "not a compact JWS (three dot-separated parts)")
    try:
        compact = _compact(token.encode("ascii"))
    # RecursionError: a hostile, deeply nested header must be refused, not crash the request.
    except (ValueError, RecursionError) as exc:
        raise JoseError("token", _NOT_COMPACT) from exc
    if compact is None:
        raise JoseError("token", _NOT_COMPACT)
    return compact


def _compact(value: bytes) -> _Compact | None:
    """The parts of a compact JWS as joserfc's extract_compact reads them; None where it refuses."""
    header_segment, payload_segment, signature = value.split(b".")
    if (
        len(value) > _MAX_TOKEN
        or len(header_segment) > _REGISTRY.max_header_length
        or len(payload_segment) > _REGISTRY.max_payload_length
        or len(signature) > _REGISTRY.max_signature_length
    ):
        return None
    header_json = _b64decode(header_segment)
    if header_json is None:
        return None
    header = _JSON.decode(untrusted_json.text_of(header_json))  # json.loads's reading, in fewer calls
    if not isinstance(header, dict) or "alg" not in header:
        return None
    if "b64" in header and header["b64"] is not True:
        # RFC 7797: the payload is not encoded, which a receiver must know from `crit` (refused after this).
        crit = header.get("crit")
        if not (isinstance(crit, list) and "b64" in crit):
            return None
        payload: bytes | None = payload_segment
    else:
        payload = _b64decode(payload_segment)
    if payload is None:
        return None
    return _Compact(header, payload, header_segment + b"." + payload_segment, signature)


def _b64decode(segment: bytes) -> bytes | None:
    """base64url without padding, as joserfc reads it: None for any other alphabet, padding, or stray bits."""
    pad = -len(segment) % 4
    if b"+" in segment or b"/" in segment or b"=" in segment or pad == 3:
        return None
    if pad and segment[-1] not in _SAFE_ENDINGS[pad]:
        return None
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + b"=" * pad, strict_mode=True)
    except binascii.Error:
        return None


def _claims(payload: bytes | None) -> dict[str, Any]:
    try:
        value = untrusted_json.loads(payload or b"")
    except ValueError as exc:
        raise JoseError("payload", f"not JSON the broker accepts: {exc}") from exc
    if not isinstance(value, dict):
        raise JoseError("payload", "not a JSON object")
    return value
