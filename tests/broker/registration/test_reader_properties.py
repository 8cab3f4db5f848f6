"""Property tests of what the broker reads from a platform during registration: the configuration document and
the registration answer. Any input gives a value or the reader's own refusal, never another exception, and a
value it gives can be stored as it is on both engines."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from broker import stored_text
from broker.lti import PLATFORM_CONFIGURATION_KEY, TOOL_CONFIGURATION_KEY
from broker.registration.platform_configuration import (
    PRODUCT_FAMILY_CODE_LENGTH,
    VERSION_LENGTH,
    PlatformConfiguration,
    PlatformConfigurationError,
)
from broker.registration.profiles.blackboard import PORTAL_HOST
from broker.registration.profiles.selection import read_platform_configuration
from broker.registration.response import (
    MAX_ERROR_TEXT,
    RegistrationResponseError,
    parse_registration_response,
    platform_error_text,
)
from tests.emulators.fixtures import load_fixture
from tests.hostile_values import json_values, member_changes, strings

PROPERTIES = settings(max_examples=150, deadline=None, database=None, derandomize=True)

# Each real platform's document, with a configuration URL its profile accepts.
CONFIGURATIONS = {
    "blackboard": f"https://{PORTAL_HOST}/api/v1/gateway/oidcdiscovery",
    "canvas": "https://canvas.example.edu/api/lti/security/openid-configuration",
    "moodle": "https://moodle.example.edu/mod/lti/openid-configuration.php",
    "sakai": "https://sakai.example.edu/imsblis/lti13/well_known",
}
ANSWERS = ("canvas", "moodle", "sakai")

def mutated(document: dict[str, Any], changes: dict[str, Any], platform_changes: dict[str, Any]) -> dict[str, Any]:
    """The document with some members replaced (or added), in the top level and in its platform object."""
    result = {**document, **changes}
    platform = result.get(PLATFORM_CONFIGURATION_KEY)
    if isinstance(platform, dict) and platform_changes:
        result[PLATFORM_CONFIGURATION_KEY] = {**platform, **platform_changes}
    return result


@st.composite
def configurations(draw: st.DrawFn) -> tuple[Any, str]:
    name = draw(st.sampled_from(sorted(CONFIGURATIONS)))
    url = CONFIGURATIONS[name]
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values), url
    document = load_fixture(f"{name}-openid-configuration")
    platform = document.get(PLATFORM_CONFIGURATION_KEY) or {}
    changes = draw(member_changes(sorted(document)))
    platform_changes = draw(member_changes(sorted(platform) or ["product_family_code", "version"]))
    return mutated(document, changes, platform_changes), url


def assert_storable(platform: PlatformConfiguration) -> None:
    urls = [platform.issuer, platform.authorization_endpoint, platform.token_endpoint, platform.jwks_uri]
    urls += [platform.registration_endpoint, platform.authorization_server or ""]
    for url in urls:
        assert stored_text.problem(url, stored_text.URL_LENGTH) is None, url
    assert stored_text.problem(platform.product_family_code or "", PRODUCT_FAMILY_CODE_LENGTH) is None
    assert stored_text.problem(platform.version or "", VERSION_LENGTH) is None


@PROPERTIES
@given(configurations(), st.booleans())
def test_any_configuration_document_is_read_or_refused_by_field(drawn: tuple[Any, str], insecure: bool) -> None:
    document, url = drawn
    try:
        platform = read_platform_configuration(document, configuration_url=url, allow_insecure=insecure)
    except PlatformConfigurationError as refusal:
        assert refusal.field and refusal.reason
        return
    assert_storable(platform)
    json.dumps(platform.document)  # what is kept of it is JSON again


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=64))
    if kind == 1:
        return json.dumps(draw(json_values)).encode()
    document = load_fixture(f"{draw(st.sampled_from(ANSWERS))}-registration-response")
    tool = document.get(TOOL_CONFIGURATION_KEY)
    changes = draw(member_changes(["client_id", "deployment_id", "scope", TOOL_CONFIGURATION_KEY]))
    tool_changes = draw(member_changes(["deployment_id", "domain"]))
    answer = {**document, **changes}
    if isinstance(tool, dict) and tool_changes and isinstance(answer.get(TOOL_CONFIGURATION_KEY), dict):
        answer[TOOL_CONFIGURATION_KEY] = {**answer[TOOL_CONFIGURATION_KEY], **tool_changes}
    return json.dumps(answer).encode()


@PROPERTIES
@given(st.integers(100, 599), answers())
def test_any_registration_answer_is_read_or_refused_with_the_platforms_words(status: int, body: bytes) -> None:
    try:
        result = parse_registration_response(status, body)
    except RegistrationResponseError as refusal:
        assert refusal.status_code == status and refusal.detail
        return
    assert 200 <= status < 300
    assert stored_text.problem(result.client_id, stored_text.IDENTIFIER_LENGTH) is None
    for deployment_id in result.deployment_ids:
        assert stored_text.problem(deployment_id, stored_text.IDENTIFIER_LENGTH) is None
    assert all(isinstance(scope, str) for scope in result.scopes_granted or ())


@PROPERTIES
@given(answers())
def test_a_platforms_error_text_is_always_short_text(body: bytes) -> None:
    text = platform_error_text(body)
    assert isinstance(text, str) and text
    assert len(text) <= MAX_ERROR_TEXT + 1


# Keys a platform object may stand under, and keys that only look like one.
PLATFORM_KEYS = [
    PLATFORM_CONFIGURATION_KEY,
    PLATFORM_CONFIGURATION_KEY + " ",
    "\t" + PLATFORM_CONFIGURATION_KEY + "\n",
    "URL/spec/lti-platform-configuration",
    PLATFORM_CONFIGURATION_KEY + "/x",
    "spec/lti-platform-configuration",
]
MOODLE_URL = CONFIGURATIONS["moodle"]


@PROPERTIES
@given(st.lists(st.tuples(st.sampled_from(PLATFORM_KEYS) | strings, json_values), max_size=5))
def test_the_platform_object_is_the_first_under_a_key_that_strips_to_its_name(members: list[Any]) -> None:
    document = {**load_fixture("moodle-openid-configuration"), "issuer": "https://moodle.example.edu"}
    document.pop(PLATFORM_CONFIGURATION_KEY)
    document.update(members)
    found = [value for key, value in document.items() if key.strip() == PLATFORM_CONFIGURATION_KEY][:1]
    try:
        platform = read_platform_configuration(document, configuration_url=MOODLE_URL, allow_insecure=False)
    except PlatformConfigurationError as refusal:
        # Only what was found can be refused: the key's value itself, or a member of it.
        assert found
        assert (refusal.field == PLATFORM_CONFIGURATION_KEY) == (not isinstance(found[0], dict))
        return
    assert platform.product_family_code == (found[0].get("product_family_code") if found else None)
    assert (platform.warnings == ()) == bool(found)


@PROPERTIES
@given(st.sampled_from(["claims_supported", "scopes_supported", "response_types_supported"]), json_values)
def test_a_list_is_read_when_every_item_is_a_string_and_refused_otherwise(name: str, value: Any) -> None:
    document = {**load_fixture("moodle-openid-configuration"), "issuer": "https://moodle.example.edu", name: value}
    strings_only = isinstance(value, list) and all(isinstance(item, str) for item in value)
    try:
        platform = read_platform_configuration(document, configuration_url=MOODLE_URL, allow_insecure=False)
    except PlatformConfigurationError as refusal:
        assert refusal.field == name
        assert refusal.reason == "must be a list of strings" or (strings_only and "id_token" not in value)
        return
    assert strings_only or value is None
    if name != "response_types_supported":
        assert getattr(platform, name) == (None if value is None else tuple(value))
