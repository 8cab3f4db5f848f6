"""The postMessage storage binding's pure parts: target names, origins, keys, and the two pages."""

from __future__ import annotations

import pytest

from broker.inline_scripts import STORAGE_GET, STORAGE_PUT, script_hash
from broker.launch.client_storage import (
    PROOF_FIELD,
    get_page,
    posted_by_our_page,
    put_page,
    storage_key,
    storage_origin,
    valid_storage_target,
)

EVIL = '"><script>alert(1)</script>'


@pytest.mark.parametrize("target", ["_parent", "lti_storage_frame", "post-message.frame"])
def test_usable_storage_targets_are_kept(target: str) -> None:
    assert valid_storage_target(target) == target


@pytest.mark.parametrize("target", [None, "", EVIL, "a b", "x" * 256])
def test_unusable_storage_targets_mean_no_storage(target: str | None) -> None:
    assert valid_storage_target(target) is None


def test_the_storage_origin_is_the_authorization_endpoints() -> None:
    assert storage_origin("https://lms.example.com:8443/auth/authorize?x=1") == "https://lms.example.com:8443"


def test_each_state_has_its_own_key() -> None:
    assert storage_key("abc") == "state_abc"
    assert storage_key("abc") != storage_key("abd")


@pytest.mark.parametrize(
    ("origin", "fetch_site", "ours"),
    [
        ("https://b.example", None, True),
        ("null", "same-origin", True),
        ("null", None, False),
        (None, None, False),
        ("https://evil.example", "cross-site", False),
        ("https://b.example.evil", "same-site", False),
    ],
)
def test_only_our_own_page_may_post_a_proof(origin: str | None, fetch_site: str | None, ours: bool) -> None:
    assert posted_by_our_page(origin, fetch_site, "https://b.example") is ours


def test_the_put_page_escapes_every_value_and_keeps_its_script() -> None:
    page = put_page(next_url=f"https://lms.example/auth?a=1&b={EVIL}", target="_parent",
                    origin="https://lms.example", state=EVIL, nonce=EVIL)
    assert "<script>alert" not in page
    assert page.count("<script>") == 1
    assert f"<script>{STORAGE_PUT.source}</script>" in page
    assert "&amp;b=" in page
    assert script_hash(STORAGE_PUT.source) == STORAGE_PUT.csp_hash


def test_the_get_page_posts_the_form_with_an_empty_proof_for_the_script_to_fill() -> None:
    page = get_page(action="https://b.example/t/x/lti/launch", target="lti_storage_frame",
                    origin="https://lms.example", state=EVIL, id_token="eyJ.a.b")
    assert "<script>alert" not in page
    assert f'name="{PROOF_FIELD}" value=""' in page
    assert 'name="id_token" value="eyJ.a.b"' in page
    assert f'data-proof-field="{PROOF_FIELD}"' in page
    assert f"<script>{STORAGE_GET.source}</script>" in page
    assert script_hash(STORAGE_GET.source) == STORAGE_GET.csp_hash


def test_the_scripts_message_everyone_only_in_canvas_s_fallback_and_then_hear_that_window_alone() -> None:
    for script in (STORAGE_PUT.source, STORAGE_GET.source):
        # The named frame is spoken to at the platform's origin; '*' only for the window holding the tool.
        assert 'return {frame: named, origin: settings.origin};' in script
        assert 'return holder && holder !== window ? {frame: holder, origin: "*"} : null;' in script
        assert "storage.frame.postMessage(message, storage.origin)" in script
        assert (
            'storage.origin === "*" ? event.source === storage.frame : event.origin === storage.origin' in script
        )
