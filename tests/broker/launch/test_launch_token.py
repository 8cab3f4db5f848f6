from typing import Any

import pytest
from joserfc.jwk import JWKRegistry, Key

from broker.launch.launch_token import LaunchTokenError, build_launch_token, read_launch_token
from tests.broker.launch.helpers import (
    MALFORMED_TIMES,
    NOW,
    decode_part,
    new_key,
    public_set,
    sign_jws,
    sign_payload,
    with_raw_claim,
)

BROKER_ISSUER = "https://broker.example.com/t/acme"
TOOL_URL = "https://tool.example.com/lti/launch"


def build(claims: dict[str, Any], key: Key, **overrides: Any) -> str:
    options: dict[str, Any] = {
        "signing_key": key,
        "issuer": BROKER_ISSUER,
        "audience": TOOL_URL,
        "target": TOOL_URL,
        "registration_id": "reg-1",
        "now": NOW,
    }
    return build_launch_token(claims, **(options | overrides))


def test_round_trip_carries_every_id_token_claim(tenant_key, tenant_keys, id_token_claims):
    token = build(id_token_claims, tenant_key)
    claims = read_launch_token(token, keys=tenant_keys, issuer=BROKER_ISSUER, now=NOW + 10)
    assert claims["lti"] == id_token_claims
    assert (claims["iss"], claims["registration_id"]) == (BROKER_ISSUER, "reg-1")


def test_contract_header_and_claims(tenant_key, id_token_claims):
    token = build(id_token_claims, tenant_key)
    header, claims = decode_part(token, 0), decode_part(token, 1)
    assert (header["alg"], header["kid"]) == ("RS256", "tenant-1")
    # The tool compares `aud` with its URL: a list, even of one, would break that.
    assert claims["aud"] == TOOL_URL
    assert claims["iat"] == NOW
    assert 0 < claims["exp"] - claims["iat"] <= 300


def test_each_token_has_its_own_jti(tenant_key, id_token_claims):
    first, second = build(id_token_claims, tenant_key), build(id_token_claims, tenant_key)
    assert decode_part(first, 1)["jti"] != decode_part(second, 1)["jti"]


@pytest.mark.parametrize("lifetime", [0, 301])
def test_lifetime_outside_the_contract_is_refused(tenant_key, id_token_claims, lifetime):
    with pytest.raises(ValueError, match="300"):
        build(id_token_claims, tenant_key, lifetime=lifetime)


def test_a_public_key_cannot_sign(tenant_key, id_token_claims):
    public_key = JWKRegistry.import_key(tenant_key.as_dict(private=False))
    with pytest.raises(ValueError, match="private"):
        build(id_token_claims, public_key)


def test_expired_token_is_refused(tenant_key, tenant_keys, id_token_claims):
    token = build(id_token_claims, tenant_key)
    with pytest.raises(LaunchTokenError) as caught:
        read_launch_token(token, keys=tenant_keys, issuer=BROKER_ISSUER, now=NOW + 300 + 31)
    assert caught.value.field == "exp"


@pytest.mark.parametrize(("raw", "field"), MALFORMED_TIMES)
def test_a_malformed_expiry_is_refused(tenant_key, tenant_keys, id_token_claims, raw, field):
    claims = {"iss": BROKER_ISSUER, "lti": id_token_claims}
    token = sign_payload(with_raw_claim(claims, "exp", raw), tenant_key)
    with pytest.raises(LaunchTokenError) as caught:
        read_launch_token(token, keys=tenant_keys, issuer=BROKER_ISSUER, now=NOW)
    assert caught.value.field == (field or "exp")


def test_token_of_another_tenant_is_refused(tenant_key, tenant_keys, id_token_claims):
    token = build(id_token_claims, tenant_key, issuer="https://broker.example.com/t/other")
    with pytest.raises(LaunchTokenError) as caught:
        read_launch_token(token, keys=tenant_keys, issuer=BROKER_ISSUER, now=NOW)
    assert caught.value.field == "iss"


def test_token_signed_by_another_key_is_refused(tenant_keys, id_token_claims):
    impostor = new_key("tenant-1")
    with pytest.raises(LaunchTokenError) as caught:
        read_launch_token(build(id_token_claims, impostor), keys=tenant_keys, issuer=BROKER_ISSUER, now=NOW)
    assert caught.value.field == "signature"


def test_only_rs256_is_read(tenant_key, tenant_keys, id_token_claims):
    claims = {"iss": BROKER_ISSUER, "exp": NOW + 60, "lti": id_token_claims}
    token = sign_jws(claims, tenant_key, alg="PS256")
    with pytest.raises(LaunchTokenError) as caught:
        read_launch_token(token, keys=public_set(tenant_key), issuer=BROKER_ISSUER, now=NOW)
    assert caught.value.field == "alg"
