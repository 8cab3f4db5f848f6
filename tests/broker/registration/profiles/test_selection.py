"""Choosing the profile: by the configuration host where a platform has a fixed one, else by product code."""

from __future__ import annotations

import pytest

from broker.registration.profiles.profile import ConfigurationSource
from broker.registration.profiles.selection import PROFILES, product_family_code, profile_named, select_profile
from tests.broker.registration.profiles.helpers import CONFIGURATION_URLS, fixture, read

KEY = "https://purl.imsglobal.org/spec/lti-platform-configuration"


@pytest.mark.parametrize(
    ("code", "profile"),
    [
        ("moodle", "moodle"),
        ("canvas", "canvas"),
        ("sakailms.org", "sakai"),
        ("BlackboardLearn", "blackboard"),
        ("desire2learn", "brightspace"),
        ("schoology", "schoology"),
        ("Moodle", "moodle"),
        ("ilias", "generic"),
        (None, "generic"),
    ],
)
def test_product_family_code_chooses_the_profile(code: str | None, profile: str) -> None:
    document = {KEY: {"product_family_code": code}} if code else {}
    source = ConfigurationSource("https://lms.example.edu/config", allow_insecure=False)
    assert select_profile(document, source).name == profile


def test_blackboard_portal_host_chooses_blackboard_whatever_the_document_says() -> None:
    source = ConfigurationSource("https://Developer.Blackboard.com/api/v1/gateway/x", allow_insecure=False)
    assert select_profile({KEY: {"product_family_code": "canvas"}}, source).name == "blackboard"


def test_platform_object_is_found_under_old_moodle_and_kb_keys() -> None:
    assert product_family_code({KEY + " ": {"product_family_code": "moodle"}}) == "moodle"
    assert product_family_code({"URL/spec/lti-platform-configuration": {"product_family_code": "x"}}) == "x"
    assert product_family_code({KEY: {"product_family_code": 7}}) is None


@pytest.mark.parametrize("name", ["moodle", "canvas", "sakai", "blackboard"])
def test_every_fixture_is_read_by_its_own_profile(name: str) -> None:
    assert read(fixture(name), CONFIGURATION_URLS[name]).profile == name


def test_profiles_have_unique_names_and_codes_and_unknown_names_fall_back_to_generic() -> None:
    names = [profile.name for profile in PROFILES]
    codes = [code for profile in PROFILES for code in profile.product_family_codes]
    assert len(set(names)) == len(names) and len(set(codes)) == len(codes)
    assert profile_named("no-such-profile").name == "generic"
