"""Validation of the platform's id_token at the launch endpoint (LTI 1.3 core / Security Framework).

The LTI message claims inside it are checked afterwards by `broker.launch.messages`.
"""

import hmac
from typing import Any

from joserfc.jwk import KeySet

from broker.launch import jose
from broker.refusals import FieldError
from broker.untrusted_json import is_string_list

ALLOWED_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"})


class IdTokenError(FieldError):
    subject = "id_token claim"


class UnknownKeyIdError(IdTokenError):
    """The `kid` is not in the platform key set: refetch the platform JWKS once, then validate again."""

    def __init__(self, kid: str) -> None:
        super().__init__("kid", f"no key {kid!r} in the platform key set")
        self.kid = kid


def peek_unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification, to find the registration (`iss`, `aud`) and its keys."""
    try:
        return jose.decode_unverified(id_token)
    except jose.JoseError as exc:
        raise _id_token_error(exc) from exc


def validate_id_token(
    id_token: str,
    *,
    keys: KeySet,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: int = 60,
    max_age: int = 3600,
) -> dict[str, Any]:
    """The claims of `id_token` once its signature, issuer, audience, times and nonce all hold."""
    # A try rather than a context manager: three Python calls fewer, at every launch.
    try:
        claims = jose.verify(id_token, keys, ALLOWED_ALGS)
        jose.check_expiry(claims, now=now, leeway=leeway)
        _check_issued_at(jose.number_claim(claims, "iat"), now=now, leeway=leeway, max_age=max_age)
    except jose.JoseError as exc:
        raise _id_token_error(exc) from exc
    _check_issuer(claims, issuer)
    _check_audience(claims, client_id)
    _check_nonce(claims, nonce)
    return claims


def _id_token_error(exc: jose.JoseError) -> IdTokenError:
    if isinstance(exc, jose.UnknownKeyId):
        return UnknownKeyIdError(exc.kid)
    return IdTokenError(exc.field, exc.reason)


def _check_issued_at(iat: float, *, now: float, leeway: int, max_age: int) -> None:
    if iat > now + leeway:
        raise IdTokenError("iat", "issued in the future; check the platform's clock")
    if now - iat > max_age:
        raise IdTokenError("iat", f"issued more than {max_age} s ago")


def _check_issuer(claims: dict[str, Any], issuer: str) -> None:
    # Exact string equality: no trailing-slash or case normalisation, per the Security Framework.
    if claims.get("iss") != issuer:
        raise IdTokenError("iss", f"expected exactly {issuer!r}, got {claims.get('iss')!r}")


def _check_audience(claims: dict[str, Any], client_id: str) -> None:
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not is_string_list(audiences):
        raise IdTokenError("aud", "missing, or not a string or an array of strings")
    if client_id not in audiences:
        raise IdTokenError("aud", f"does not contain our client_id {client_id!r}")
    azp = claims.get("azp")
    # OIDC makes these SHOULDs; we refuse, since a token minted for several parties is not ours alone.
    if len(audiences) > 1 and azp is None:
        raise IdTokenError("azp", "required when aud has several members")
    if azp is not None and azp != client_id:
        raise IdTokenError("azp", f"expected our client_id {client_id!r}, got {azp!r}")


def _check_nonce(claims: dict[str, Any], nonce: str) -> None:
    value = claims.get("nonce")
    if not isinstance(value, str):
        raise IdTokenError("nonce", "missing")
    if not hmac.compare_digest(value.encode(), nonce.encode()):
        raise IdTokenError("nonce", "does not match the nonce of this login")
