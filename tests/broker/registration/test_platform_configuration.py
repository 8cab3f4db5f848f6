"""The platform configuration validator, against the real platforms' documents and broken ones."""

from __future__ import annotations

from typing import Any

import pytest

from broker.lti import PLATFORM_CONFIGURATION_KEY
from broker.registration.platform_configuration import PlatformConfigurationError, validate_platform_configuration
from tests.emulators.fixtures import load_fixture

MOODLE_URL = "https://moodle.example.edu/mod/lti/openid-configuration.php"


def moodle() -> dict[str, Any]:
    document = load_fixture("moodle-openid-configuration")
    document["issuer"] = "https://moodle.example.edu"
    return document


def validate(document: Any, url: str = MOODLE_URL, *, insecure: bool = False):
    return validate_platform_configuration(document, configuration_url=url, allow_insecure=insecure)


def test_moodle_document_is_accepted_with_bare_string_messages() -> None:
    platform = validate(moodle())
    assert platform.product_family_code == "moodle"
    assert platform.supports_message("LtiDeepLinkingRequest")
    assert not platform.supports_message("LtiSubmissionReviewRequest")
    assert platform.warnings == ()


def test_canvas_document_is_accepted_with_placements_and_a_bare_host_authorization_server() -> None:
    document = load_fixture("canvas-openid-configuration")
    platform = validate(
        document, url=f"{document['issuer']}/api/lti/security/openid-configuration?registration_token=x"
    )
    assert platform.product_family_code == "canvas"
    placements = platform.placements_for("LtiResourceLinkRequest")
    assert placements and "course_navigation" in placements
    assert platform.authorization_server and "://" not in platform.authorization_server


def test_sakai_document_is_accepted_although_it_lists_only_openid() -> None:
    document = load_fixture("sakai-openid-configuration")
    platform = validate(document, url=document["issuer"] + "/imsblis/lti13/well_known?key=1")
    assert platform.scopes_supported == ("openid",)


def test_platform_key_with_trailing_space_is_found() -> None:
    document = moodle()
    document[PLATFORM_CONFIGURATION_KEY + " "] = document.pop(PLATFORM_CONFIGURATION_KEY)
    assert validate(document).product_family_code == "moodle"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"issuer": None}, "issuer"),
        ({"issuer": "https://evil.example.com"}, "issuer"),
        ({"issuer": "http://moodle.example.edu"}, "issuer"),
        ({"issuer": "https://moodle.example.edu?x=1"}, "issuer"),
        ({"issuer": "https://moodle.example.edu#f"}, "issuer"),
        ({"jwks_uri": None}, "jwks_uri"),
        ({"registration_endpoint": "/relative"}, "registration_endpoint"),
        ({"token_endpoint": "ftp://moodle.example.edu/token"}, "token_endpoint"),
        ({"authorization_endpoint": None}, "authorization_endpoint"),
        ({"token_endpoint_auth_methods_supported": ["client_secret_basic"]}, "token_endpoint_auth_methods_supported"),
        ({"id_token_signing_alg_values_supported": ["HS256"]}, "id_token_signing_alg_values_supported"),
        ({"scopes_supported": "openid"}, "scopes_supported"),
    ],
)
def test_bad_documents_name_the_offending_field(change: dict[str, Any], field: str) -> None:
    document = moodle()
    for key, value in change.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    with pytest.raises(PlatformConfigurationError) as caught:
        validate(document)
    assert caught.value.field == field


def test_non_object_document_is_refused() -> None:
    with pytest.raises(PlatformConfigurationError):
        validate(["not", "an", "object"])


def test_issuer_host_comparison_ignores_case_but_not_the_host() -> None:
    document = moodle()
    document["issuer"] = "https://MOODLE.example.edu"
    assert validate(document).issuer == "https://MOODLE.example.edu"
    with pytest.raises(PlatformConfigurationError):
        validate(document, url="https://moodle.example.edu.evil.com/config")


def test_http_issuer_is_allowed_only_in_insecure_mode() -> None:
    document = moodle()
    document["issuer"] = "http://moodle.example.edu"
    assert validate(document, insecure=True).issuer == "http://moodle.example.edu"


def test_missing_capability_lists_warn_instead_of_failing() -> None:
    document = moodle()
    del document["token_endpoint_auth_methods_supported"]
    assert any("private_key_jwt" in warning for warning in validate(document).warnings)


# Every value the broker stores from the document, with its column's length: one past it, a NUL or another
# control character is refused by name, the same on SQLite (which would store it) and PostgreSQL (which fails).
STORED_VALUES = [
    (None, "issuer", 2000),
    (None, "authorization_endpoint", 2000),
    (None, "token_endpoint", 2000),
    (None, "jwks_uri", 2000),
    (None, "registration_endpoint", 2000),
    (None, "authorization_server", 2000),
    (PLATFORM_CONFIGURATION_KEY, "product_family_code", 100),
    (PLATFORM_CONFIGURATION_KEY, "version", 200),
]


def with_value(parent: str | None, field: str, length: int, tail: str = "") -> dict[str, Any]:
    document = moodle()
    container = document if parent is None else document[parent]
    start = "https://moodle.example.edu/" if parent is None else ""
    container[field] = start + "a" * (length - len(start) - len(tail)) + tail
    return document


@pytest.mark.parametrize(("parent", "field", "length"), STORED_VALUES)
def test_a_stored_value_may_fill_its_column(parent: str | None, field: str, length: int) -> None:
    platform = validate(with_value(parent, field, length))
    assert len(getattr(platform, field)) == length


@pytest.mark.parametrize(("length_past", "tail"), [(1, ""), (0, "\x00"), (0, "\n"), (0, "\x7f")])
@pytest.mark.parametrize(("parent", "field", "length"), STORED_VALUES)
def test_a_stored_value_the_database_cannot_hold_is_refused_by_name(
    parent: str | None, field: str, length: int, length_past: int, tail: str
) -> None:
    with pytest.raises(PlatformConfigurationError) as caught:
        validate(with_value(parent, field, min(length, 50) if tail else length + length_past, tail))
    assert caught.value.field == field
