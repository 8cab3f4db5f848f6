"""The relay token: the broker's signed account of a validated launch, auto-POSTed to the tenant's tool.

Its shape is the contract with tools (README, "The launch_token"): RS256 with the tenant key and its `kid`;
`iss` = the tenant's broker URL, `aud` = the tool URL string exactly, `target` = the URL the token is posted to
(the tool URL, or a deep-linked item's URL on its origin), `iat`, `exp` at most 300 s later, `jti`,
`registration_id`, and `lti` = every claim of the validated id_token.
"""

from collections.abc import Mapping
from typing import Any

from joserfc.jwk import KeySet, RSAKey

from broker.launch import jose
from broker.refusals import FieldError


class LaunchTokenError(FieldError):
    subject = "launch_token claim"


def build_launch_token(
    lti_claims: Mapping[str, Any],
    *,
    signing_key: RSAKey,
    issuer: str,
    audience: str,
    target: str,
    registration_id: str,
    now: float,
    lifetime: int = jose.MAX_LIFETIME,
) -> str:
    claims = {
        "iss": issuer,
        # A single string, never a list: tools compare it to their own URL.
        "aud": audience,
        "target": target,
        "jti": jose.random_token(),
        "registration_id": registration_id,
        "lti": dict(lti_claims),
    }
    return jose.sign(claims, signing_key, now=now, lifetime=lifetime)


def read_launch_token(
    token: str, *, keys: KeySet, issuer: str, now: float, leeway: int = 30
) -> dict[str, Any]:
    """The claims of a launch token a tenant tool hands back, once signature, `iss` and `exp` hold.

    `aud` is not checked: the token comes back from the tool it was addressed to.
    """
    try:
        claims = jose.verify(token, keys, {jose.SIGNING_ALG})
        jose.check_expiry(claims, now=now, leeway=leeway)
    except jose.JoseError as exc:
        raise LaunchTokenError(exc.field, exc.reason) from exc
    if claims.get("iss") != issuer:
        raise LaunchTokenError("iss", f"expected {issuer!r}; this token was not issued for this tenant")
    if not isinstance(claims.get("lti"), dict):
        raise LaunchTokenError("lti", "missing or not an object")
    return claims
