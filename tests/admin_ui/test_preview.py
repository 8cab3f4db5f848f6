"""The registration request preview: built per platform profile over each LMS's sample configuration."""

from __future__ import annotations

import json

from admin_ui.console.preview import SAMPLE_URLS, previews
from broker.settings import Settings
from tenants.models import Tenant
from tenants.tool_configuration import parse_tool_configuration

ACME = Tenant(id="ten_acme", slug="acme")


def test_each_lms_gets_its_request_or_the_reason_it_would_refuse_it() -> None:
    settings = Settings(base_url="http://127.0.0.1:8000")  # plain http, as in development
    shown = {preview.lms: preview for preview in previews(settings, ACME, "Acme", parse_tool_configuration({}))}
    assert set(shown) == set(SAMPLE_URLS)
    moodle = json.loads(shown["Moodle"].request or "{}")
    assert moodle["client_name"] == "Acme" and moodle["initiate_login_uri"] == "http://127.0.0.1:8000/t/acme/lti/login"
    brightspace = shown["Brightspace"]
    assert brightspace.request is None and brightspace.refusal and "https URLs only" in brightspace.refusal
    assert shown["Canvas"].profile == "Canvas" and shown["Canvas"].notes
    # Each LMS is given the JWKS URL of the keys bound to it, as a real registration would be.
    canvas = json.loads(shown["Canvas"].request or "{}")
    keys_url = "http://127.0.0.1:8000/t/acme/keys/"
    assert moodle["jwks_uri"].startswith(keys_url) and canvas["jwks_uri"].startswith(keys_url)
    assert canvas["jwks_uri"] != moodle["jwks_uri"]


def test_https_brokers_are_accepted_everywhere() -> None:
    settings = Settings(base_url="https://lti.example.com")
    tool = parse_tool_configuration({})
    assert all(preview.request is not None for preview in previews(settings, ACME, "Acme", tool))
