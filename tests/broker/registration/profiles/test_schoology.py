"""Schoology: no Dynamic Registration documented; a Schoology document is held to the spec's rules."""

from __future__ import annotations

from broker.registration.profiles import generic, schoology
from tests.broker.registration.profiles.helpers import prepare, read

KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"
DOCUMENT = {
    "issuer": "https://schoology.schoology.com",
    "authorization_endpoint": "https://lti-service.svc.schoology.com/lti-service/authorize-redirect",
    "token_endpoint": "https://lti-service.svc.schoology.com/lti-service/access-token",
    "jwks_uri": "https://lti-service.svc.schoology.com/lti-service/.well-known/jwks",
    "registration_endpoint": "https://lti-service.svc.schoology.com/lti-service/registration",
    KEY: {"product_family_code": "schoology"},
}


def test_a_schoology_document_is_read_and_checked_as_the_spec_says() -> None:
    platform = read(DOCUMENT, "https://schoology.schoology.com/.well-known/openid-configuration")
    assert platform.profile == "schoology" and platform.adaptations == ()
    prepared = prepare(platform, token=False)
    assert prepared.notes == ()
    assert schoology.PROFILE.check_request is generic.spec_problems
    assert schoology.PROFILE.adapt_request is generic.keep_request
