"""D2L Brightspace: https URLs only, its disabled-by-default and one-domain rules, and its token audience."""

from __future__ import annotations

from typing import Any

import pytest

from broker.registration import errors
from broker.registration.profiles import brightspace
from broker.registration.request import ToolEndpoints
from tenants.tool_configuration import ToolConfiguration
from tests.broker.registration.profiles.helpers import ENDPOINTS, prepare, read

KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"
URL = "https://school.brightspace.com/d2l/api/lti/dynamic-registration/openid-configuration?token=t"


def document(**changes: Any) -> dict[str, Any]:
    return {
        "issuer": "https://school.brightspace.com",
        "authorization_endpoint": "https://school.brightspace.com/d2l/lti/authenticate",
        "registration_endpoint": "https://school.brightspace.com/d2l/api/lti/dynamic-registration/register?token=t",
        "jwks_uri": "https://school.brightspace.com/d2l/.well-known/jwks",
        "token_endpoint": "https://auth.brightspace.com/core/connect/token",
        "scopes_supported": ["openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
        KEY: {"product_family_code": "desire2learn", "messages_supported": [{"type": "LtiResourceLinkRequest"}]},
        **changes,
    }


PLATFORM = read(document(), URL)


def test_the_request_notes_what_the_brightspace_admin_must_know() -> None:
    prepared = prepare(PLATFORM, token=False)
    assert prepared.profile.name == "brightspace"
    assert any("disabled" in note for note in prepared.notes)
    assert any("one enabled registration per domain" in note and "lti.example.com" in note for note in prepared.notes)


def test_an_http_url_is_never_sent() -> None:
    with pytest.raises(errors.RequestNotSentError) as raised:
        prepare(PLATFORM, ToolConfiguration(logo_uri="http://cdn.acme.example/logo.png"), token=False)
    assert raised.value.field == "logo_uri"
    assert "https URLs only" in raised.value.detail


LOCAL = ToolEndpoints(
    initiate_login_uri="http://127.0.0.1:8000/t/acme/lti/login",
    redirect_uri="http://127.0.0.1:8000/t/acme/lti/launch",
    jwks_uri="http://127.0.0.1:8000/t/acme/.well-known/jwks.json",
    target_link_uri="http://127.0.0.1:8000/t/acme/lti/launch",
    domain="127.0.0.1:8000",
)


def test_insecure_mode_allows_http_on_local_hosts_only() -> None:
    assert prepare(PLATFORM, endpoints=LOCAL, token=False, allow_insecure=True).request["jwks_uri"].startswith("http:")
    with pytest.raises(errors.RequestNotSentError):
        prepare(PLATFORM, endpoints=LOCAL, token=False, allow_insecure=False)
    with pytest.raises(errors.RequestNotSentError):
        tool = ToolConfiguration(logo_uri="http://cdn.acme.example/logo.png")
        prepare(PLATFORM, tool, endpoints=LOCAL, token=False, allow_insecure=True)
    assert ENDPOINTS.jwks_uri.startswith("https:")


def test_refusals_are_explained_in_brightspace_s_terms() -> None:
    uniqueness = brightspace.explain_refusal(400, "invalid_client_metadata: the domain 'x' is used by an enabled one")
    assert uniqueness is not None and "disable or delete the earlier one" in uniqueness
    assert "an hour" in (brightspace.explain_refusal(401, "invalid_token") or "")
    assert brightspace.explain_refusal(400, "jwks_uri not reachable") is None


@pytest.mark.parametrize(
    ("token_endpoint", "authorization_server", "audience"),
    [
        ("https://auth.brightspace.com/core/connect/token", None, "https://api.brightspace.com/auth/token"),
        ("https://auth.brightspace.com/core/connect/token", "https://api.example/aud", "https://api.example/aud"),
        ("https://lms.example/token", "bare-host.example", "https://lms.example/token"),
    ],
)
def test_client_assertion_audience(token_endpoint: str, authorization_server: str | None, audience: str) -> None:
    assert brightspace.client_assertion_audience(token_endpoint, authorization_server) == audience
