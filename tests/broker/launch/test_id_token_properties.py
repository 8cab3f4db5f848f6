"""Property tests of the id_token a platform posts to the launch endpoint: any token, or a validly signed one
with any claims, gives verified claims and a launch message, or the validator's own refusal naming a claim,
never another exception; what it accepts can be stored on both engines."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import Key, KeySet

from broker import stored_text
from broker.launch.id_token import IdTokenError, peek_unverified, validate_id_token
from broker.launch.messages import LtiMessageError, check_lti_message
from tests.broker.launch.helpers import CLIENT_ID, ISSUER, LTI, NONCE, NOW, sign_jws, valid_id_token_claims
from tests.hostile_values import json_values, member_changes, strings

PROPERTIES = settings(
    max_examples=100,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
VALID_CLAIMS = valid_id_token_claims()


def segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


# Compact tokens of any shape: free text, or three segments of JSON (a forged header and claims, any signature).
forged_tokens = st.one_of(
    strings,
    st.builds(lambda header, claims, tail: f"{segment(header)}.{segment(claims)}.{tail}", json_values, json_values,
              st.text(alphabet="abcXYZ019-_=.", max_size=20)),
)  # fmt: skip


def validate(token: str, keys: KeySet) -> dict[str, Any]:
    return validate_id_token(token, keys=keys, issuer=ISSUER, client_id=CLIENT_ID, nonce=NONCE, now=NOW)


@PROPERTIES
@given(token=forged_tokens)
def test_any_token_is_refused_by_claim(token: str, platform_keys: KeySet) -> None:
    try:
        peek_unverified(token)  # may read a well-formed forgery: nothing is trusted before validation
    except IdTokenError as refusal:
        assert refusal.field and refusal.reason
    with pytest.raises(IdTokenError) as refused:
        validate(token, platform_keys)
    assert refused.value.field and refused.value.reason


@PROPERTIES
@given(changes=member_changes(sorted(VALID_CLAIMS)), link=member_changes(["id", "title"]))
def test_any_claims_signed_by_the_platform_are_a_launch_or_a_refusal_by_claim(
    changes: dict[str, Any], link: dict[str, Any], platform_key: Key, platform_keys: KeySet
) -> None:
    claims = {**VALID_CLAIMS, LTI + "resource_link": {"id": "rl-7", **link}, **changes}
    try:
        verified = validate(sign_jws(claims, platform_key), platform_keys)
        message = check_lti_message(verified, login_target_link_uri=None, login_deployment_id=None)
    except (IdTokenError, LtiMessageError) as refusal:
        assert refusal.field and refusal.reason
        return
    assert stored_text.problem(message.deployment_id, stored_text.IDENTIFIER_LENGTH) is None
    assert message.subject is None or stored_text.problem(message.subject, stored_text.IDENTIFIER_LENGTH) is None
