"""Reading the platform's answer: success shapes of every platform, and their error formats."""

from __future__ import annotations

import json

import pytest

from broker.registration.response import (
    RegistrationResponseError,
    parse_registration_response,
    platform_error_text,
)
from tests.emulators.fixtures import load_fixture


def test_moodle_answer_gives_client_id_and_deployment_id_from_the_tool_configuration() -> None:
    document = load_fixture("moodle-registration-response")
    result = parse_registration_response(200, json.dumps(document).encode())
    assert result.client_id == document["client_id"]
    expected = document["https://purl.imsglobal.org/spec/lti-tool-configuration"]["deployment_id"]
    assert result.deployment_ids == (expected,)


def test_canvas_answer_gives_the_top_level_deployment_id_and_drops_openid_from_granted_scopes() -> None:
    document = load_fixture("canvas-registration-response")
    document["deployment_id"] = "327:a17deed8"
    result = parse_registration_response(200, json.dumps(document).encode())
    assert "327:a17deed8" in result.deployment_ids
    assert result.scopes_granted is not None and "openid" not in result.scopes_granted


def test_201_without_deployment_is_a_success_with_no_deployments() -> None:
    result = parse_registration_response(201, b'{"client_id": 12345}')
    assert result.client_id == "12345" and result.deployment_ids == ()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1,2]",
        b'{"no_client_id": true}',
        b'{"client_id": ""}',
        b'{"client_id": "%s"}' % (b"c" * 256),
        b'{"client_id": "client\\u0000one"}',
        b'{"client_id": "client\\none"}',
    ],
)
def test_unusable_success_answers_are_errors(body: bytes) -> None:
    with pytest.raises(RegistrationResponseError):
        parse_registration_response(200, body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": "invalid_client_metadata", "error_description": "bad domain"}',
            "invalid_client_metadata: bad domain",
        ),
        (b'{"errors": [{"field": "scopes", "message": "cannot contain openid"}]}', "cannot contain openid"),
        (b'{"errorMessage": "JWT did not include expected contents"}', "JWT did not include expected contents"),
        (b"missing required attribute client_name", "missing required attribute client_name"),
        (b"", "(the platform gave no explanation)"),
    ],
)
def test_platform_error_text_reads_every_known_format(body: bytes, expected: str) -> None:
    assert expected in platform_error_text(body)


def test_refusal_keeps_status_and_text() -> None:
    with pytest.raises(RegistrationResponseError) as caught:
        parse_registration_response(401, b"token_already_used")
    assert caught.value.status_code == 401 and caught.value.detail == "token_already_used"


def test_long_error_text_is_clipped() -> None:
    assert len(platform_error_text(b"x" * 10000)) <= 2049


def test_a_client_id_and_deployment_id_may_fill_their_columns() -> None:
    body = json.dumps({"client_id": "c" * 255, "deployment_id": "d" * 255}).encode()
    result = parse_registration_response(200, body)
    assert (result.client_id, result.deployment_ids) == ("c" * 255, ("d" * 255,))


@pytest.mark.parametrize("deployment_id", ["d" * 256, "dep\x00one", "dep\tone", "dép"])
def test_a_deployment_id_the_database_cannot_hold_is_left_for_the_first_launch(deployment_id: str) -> None:
    result = parse_registration_response(200, json.dumps({"client_id": "c", "deployment_id": deployment_id}).encode())
    assert result.deployment_ids == ()
