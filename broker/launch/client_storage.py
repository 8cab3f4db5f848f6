"""Binding a launch's `state` with the 1EdTech LTI Client Side postMessages storage (`lti_storage_target`).

Where the browser blocks our third-party cookies, a platform may offer a storage frame on its own origin. At
the login, a small page stores the launch's nonce under a key derived from its state there (`lti.put_data`),
then goes on to the platform. At the launch, when the form post comes without the state's cookie, a page asks
the frame for that key (`lti.get_data`) and posts the form again with the value it got as the proof; the
server completes the launch only when the proof equals the stored nonce and its POST comes from our own page
(`Sec-Fetch-Site: same-origin`, or an Origin header of ours; our pages' `Referrer-Policy: no-referrer` makes
browsers send `Origin: null`). Whoever started a login knows its nonce, so a proof posted by another site is
worthless; our page posts only what this browser's storage holds, and a browser that did not start this
login holds no such key there, so it cannot finish someone else's launch.

The pages' scripts are constant files (every value is an escaped data-* attribute of the page), so their CSP
hashes are fixed. The target origin of every message to the named frame is the origin of the platform's OIDC
authorization endpoint, which is where the LTI OIDC Login with Client Side postMessages spec (lti-cs-oidc)
places the platform's storage, and answers from any other origin are ignored. Where the LMS names a frame its
page does not hold (Canvas's rich content editor), the pages fall back to what Canvas documents: messages to
the window holding the tool, with '*' (Canvas's page answers from its own origin, which the broker cannot
know), and only answers from that window count. The nonce then reaches whatever page frames the tool, as
Canvas's own storage would; the binding still rests on the single-use state. When the storage cannot be
reached, errs or is silent for `STORAGE_TIMEOUT_MS`, the login goes on anyway (the cookie may still bind the
launch) and the launch posts an empty proof (refused).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from broker.inline_scripts import STORAGE_GET, STORAGE_PUT
from broker.pages import render_document

PROOF_FIELD = "lti_storage_proof"
# How long a page waits for the storage frame's answer before it falls back (milliseconds).
STORAGE_TIMEOUT_MS = 3000
_TARGET = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


def valid_storage_target(value: str | None) -> str | None:
    """The platform's `lti_storage_target` when it is a usable frame name, else None (no storage offered)."""
    if value is None or not _TARGET.fullmatch(value):
        return None
    return value


def storage_origin(url: str) -> str:
    """A URL's origin; for the platform's OIDC authorization endpoint, where its storage frame lives."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def posted_by_our_page(origin: str | None, fetch_site: str | None, our_origin: str) -> bool:
    """Whether a POST came from a page of our own origin; a browser that sends neither header fails closed."""
    return fetch_site == "same-origin" or origin == our_origin


def storage_key(state: str) -> str:
    """Each launch's own key, so several launches in one LMS page do not overwrite each other."""
    return f"state_{state}"


def put_page(*, next_url: str, target: str, origin: str, state: str, nonce: str) -> str:
    """The login's page: stores the nonce under the state's key, then goes on to the platform."""
    context = {"title": "Signing you in…", "next_url": next_url, "key": storage_key(state), "value": nonce}
    return render_document("storage_put.html", {**context, **_storage(target, origin), "script": STORAGE_PUT})


def get_page(*, action: str, target: str, origin: str, state: str, id_token: str) -> str:
    """The launch's page: reads the state's key back from the platform's storage and posts it as the proof."""
    context = {
        "title": "Opening…",
        "action": action,
        "fields": {"id_token": id_token, "state": state, PROOF_FIELD: ""},
        "key": storage_key(state),
        "proof_field": PROOF_FIELD,
    }
    return render_document("storage_get.html", {**context, **_storage(target, origin), "script": STORAGE_GET})


def _storage(target: str, origin: str) -> dict[str, object]:
    return {"target": target, "origin": origin, "timeout": STORAGE_TIMEOUT_MS}
