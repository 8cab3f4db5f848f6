"""Keys and claims for the launch tests: a platform that signs id_tokens, a tenant that signs relays."""

from typing import Any

import pytest
from joserfc.jwk import Key, KeySet

from tests.broker.launch.helpers import (
    DL,
    LTI,
    new_key,
    public_set,
    valid_id_token_claims,
)


@pytest.fixture(scope="session")
def platform_key() -> Key:
    return new_key("platform-1", use="sig")


@pytest.fixture(scope="session")
def platform_keys(platform_key: Key) -> KeySet:
    return public_set(platform_key)


@pytest.fixture(scope="session")
def tenant_key() -> Key:
    return new_key("tenant-1", use="sig", alg="RS256")


@pytest.fixture(scope="session")
def tenant_keys(tenant_key: Key) -> KeySet:
    return public_set(tenant_key)


@pytest.fixture
def id_token_claims() -> dict[str, Any]:
    """The claims of a valid resource link launch from the platform, as of NOW."""
    return valid_id_token_claims()


@pytest.fixture
def deep_linking_claims(id_token_claims: dict[str, Any]) -> dict[str, Any]:
    """The claims of a valid deep linking request from the platform."""
    claims = {k: v for k, v in id_token_claims.items() if k != LTI + "resource_link"}
    claims[LTI + "message_type"] = "LtiDeepLinkingRequest"
    claims[DL + "deep_linking_settings"] = {
        "deep_link_return_url": "https://lms.example.edu/deep_link_return?course=9",
        "accept_types": ["ltiResourceLink", "link"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": True,
        "data": 'opaque+/=state&"quoted"',
    }
    return claims
