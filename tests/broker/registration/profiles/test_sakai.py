"""Sakai: the services it grants though its document lists only openid, its token, its size limit."""

from __future__ import annotations

import pytest

from broker.lti import AGS_LINEITEM, AGS_SCORE, NRPS_MEMBERSHIPS
from broker.registration import errors
from broker.registration.profiles import sakai
from tenants.tool_configuration import ToolConfiguration
from tests.broker.registration.profiles.helpers import context, platform_of, prepare

PLATFORM = platform_of("sakai")


def test_the_lti_service_scopes_are_offered_though_the_document_lists_only_openid() -> None:
    assert PLATFORM.scopes_supported == ("openid",)
    tool = ToolConfiguration(scopes=(AGS_LINEITEM, AGS_SCORE, NRPS_MEMBERSHIPS, "https://example.com/own-scope"))
    prepared = prepare(PLATFORM, tool)
    assert prepared.plan.scopes == (AGS_LINEITEM, AGS_SCORE, NRPS_MEMBERSHIPS)
    assert prepared.plan.unavailable_scopes == ("https://example.com/own-scope",)
    assert any("tool entry's settings" in note for note in prepared.notes)


def test_sakai_needs_the_registration_token() -> None:
    with pytest.raises(errors.RequestNotSentError, match="registration_token"):
        prepare(PLATFORM, token=False)


def test_a_body_over_sakai_s_limit_is_never_sent() -> None:
    request = prepare(PLATFORM).request
    request["tos_uri"] = "https://lti.example.com/" + "x" * sakai.MAX_BODY_CHARACTERS
    (problem,) = sakai.check_request(request, context(PLATFORM))
    assert problem.field == "(body)"


def test_an_empty_403_is_explained() -> None:
    assert "works once, for an hour" in (sakai.explain_refusal(403, "(the platform gave no explanation)") or "")
