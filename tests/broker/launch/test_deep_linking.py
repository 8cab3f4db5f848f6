import json
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import JWKRegistry, Key

from broker.launch.deep_linking import DeepLinkingError, DeepLinkingResponse, build_deep_linking_response
from broker.launch.messages import LtiMessageError
from tests.broker.launch.helpers import CLIENT_ID, DL, ISSUER, LTI, NOW, decode_part

ITEM = {"type": "ltiResourceLink", "title": "Quiz 1", "url": "https://tool.example.com/quiz/1"}
SETTINGS = DL + "deep_linking_settings"


def respond(request: dict[str, Any], items: list[Any], key: Key, **options: Any) -> DeepLinkingResponse:
    return build_deep_linking_response(
        request, items, signing_key=key, client_id=CLIENT_ID, now=NOW, **options
    )


def verified_claims(token: str, key: Key) -> dict[str, Any]:
    """What the platform reads, verifying with the tool's published key as it would."""
    published = JWKRegistry.import_key(key.as_dict(private=False))
    return json.loads(jws.deserialize_compact(token, published, algorithms=["RS256"]).payload)


def with_settings(request: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return request | {SETTINGS: request[SETTINGS] | changes}


def test_response_is_signed_for_the_platform(tenant_key, deep_linking_claims):
    response = respond(deep_linking_claims, [ITEM], tenant_key, message="Added Quiz 1")
    claims = verified_claims(response.jwt, tenant_key)
    assert response.return_url == "https://lms.example.edu/deep_link_return?course=9"
    assert decode_part(response.jwt, 0)["kid"] == "tenant-1"
    assert (claims["iss"], claims["aud"]) == (CLIENT_ID, ISSUER)
    assert claims[LTI + "deployment_id"] == "dep-1"
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[DL + "content_items"] == [ITEM]
    assert claims[DL + "msg"] == "Added Quiz 1"
    assert DL + "errormsg" not in claims
    assert claims["iat"] == NOW < claims["exp"]


def test_data_is_echoed_verbatim(tenant_key, deep_linking_claims):
    claims = verified_claims(respond(deep_linking_claims, [ITEM], tenant_key).jwt, tenant_key)
    assert claims[DL + "data"] == 'opaque+/=state&"quoted"'


def test_no_data_claim_when_the_request_had_none(tenant_key, deep_linking_claims):
    request = deep_linking_claims | {
        SETTINGS: {k: v for k, v in deep_linking_claims[SETTINGS].items() if k != "data"}
    }
    claims = verified_claims(respond(request, [ITEM], tenant_key).jwt, tenant_key)
    assert DL + "data" not in claims


def test_each_response_has_a_fresh_nonce(tenant_key, deep_linking_claims):
    first, second = (respond(deep_linking_claims, [], tenant_key) for _ in range(2))
    assert decode_part(first.jwt, 1)["nonce"] != decode_part(second.jwt, 1)["nonce"]


def test_empty_selection_with_an_error_message(tenant_key, deep_linking_claims):
    response = respond(deep_linking_claims, [], tenant_key, error_message="Nothing to add")
    claims = verified_claims(response.jwt, tenant_key)
    assert (claims[DL + "content_items"], claims[DL + "errormsg"]) == ([], "Nothing to add")


def test_several_items_refused_when_the_platform_accepts_one(tenant_key, deep_linking_claims):
    request = with_settings(deep_linking_claims, accept_multiple=False)
    assert respond(request, [ITEM], tenant_key).jwt
    with pytest.raises(DeepLinkingError) as caught:
        respond(request, [ITEM, ITEM], tenant_key)
    assert caught.value.field == "content_items"


def test_item_type_the_platform_does_not_accept_is_refused(tenant_key, deep_linking_claims):
    request = with_settings(deep_linking_claims, accept_types=["link"])
    with pytest.raises(DeepLinkingError) as caught:
        respond(request, [{"type": "link", "url": "https://x.example"}, ITEM], tenant_key)
    assert caught.value.field == "content_items[1].type"
    assert "'ltiResourceLink'" in caught.value.reason


@pytest.mark.parametrize("item", [{"title": "no type"}, {"type": 3}, "ltiResourceLink"])
def test_item_without_a_string_type_is_refused(tenant_key, deep_linking_claims, item):
    with pytest.raises(DeepLinkingError) as caught:
        respond(deep_linking_claims, [item], tenant_key)
    assert caught.value.field == "content_items[0]"


def test_a_resource_link_launch_cannot_be_answered(tenant_key, id_token_claims):
    with pytest.raises(LtiMessageError) as caught:
        respond(id_token_claims, [ITEM], tenant_key)
    assert caught.value.field == LTI + "message_type"
