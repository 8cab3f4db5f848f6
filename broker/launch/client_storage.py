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

The pages' scripts are constants (every value is an escaped data-* attribute), so their CSP hashes are fixed.
The target origin of every message is the origin of the platform's OIDC authorization endpoint, which is
where the LTI OIDC Login with Client Side postMessages spec (lti-cs-oidc) places the platform's storage; we
never send these messages to '*', since they carry the launch's nonce; answers from any other origin are
ignored. When the storage frame cannot be reached, errs or is silent for `STORAGE_TIMEOUT_MS`, the login
goes on anyway (the cookie may still bind the launch) and the launch posts an empty proof (refused).
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urlsplit

from broker.autopost import hidden_inputs
from broker.pages import script_hash

PROOF_FIELD = "lti_storage_proof"
# How long a page waits for the storage frame's answer before it falls back (milliseconds).
STORAGE_TIMEOUT_MS = 3000
_TARGET = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")

_FRAME = (
    "function frame(t){try{if(t==='_parent'){return window.parent;}"
    "return (window.opener||window.parent).frames[t]||null;}catch(e){return null;}}"
)
_ASK = (
    "function ask(w,msg,answer,done){var id=msg.subject+'-'+Math.random().toString(36).slice(2);msg.message_id=id;"
    "var over=false;function end(v){if(!over){over=true;done(v);}}"
    f"setTimeout(function(){{end(null);}},{STORAGE_TIMEOUT_MS});"
    "window.addEventListener('message',function(e){var m=e.data||{};"
    "if(e.origin!==d.origin||m.subject!==answer||m.message_id!==id){return;}"
    "end(m.error?null:m);});"
    "try{w.postMessage(msg,d.origin);}catch(e){end(null);}}"
)
PUT_SCRIPT = (
    "(function(){var d=document.getElementById('lti-storage').dataset;" + _FRAME + _ASK
    + "function go(){window.location.replace(d.next);}var w=frame(d.target);if(!w){go();return;}"
    "ask(w,{subject:'lti.put_data',key:d.key,value:d.value},'lti.put_data.response',go);})();"
)
GET_SCRIPT = (
    "(function(){var f=document.getElementById('lti-storage');var d=f.dataset;" + _FRAME + _ASK
    + "function post(m){f.elements['" + PROOF_FIELD + "'].value=(m&&typeof m.value==='string')?m.value:'';"
    "f.submit();}var w=frame(d.target);if(!w){post(null);return;}"
    "ask(w,{subject:'lti.get_data',key:d.key},'lti.get_data.response',post);})();"
)
PUT_SCRIPT_HASH = script_hash(PUT_SCRIPT)
GET_SCRIPT_HASH = script_hash(GET_SCRIPT)


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
    data = _data(target=target, origin=origin, key=storage_key(state), value=nonce, next=next_url)
    body = f'<div id="lti-storage" {data}><p>Signing you in…</p><a href="{escape(next_url)}">Continue</a></div>'
    return _document("Signing you in…", body, PUT_SCRIPT)


def get_page(*, action: str, target: str, origin: str, state: str, id_token: str) -> str:
    """The launch's page: reads the state's key back from the platform's storage and posts it as the proof."""
    fields = {"id_token": id_token, "state": state, PROOF_FIELD: ""}
    inputs = hidden_inputs(fields)
    data = _data(target=target, origin=origin, key=storage_key(state))
    body = f'<form id="lti-storage" method="post" action="{escape(action)}" {data}>{inputs}<p>Opening…</p></form>'
    return _document("Opening…", body, GET_SCRIPT)


def _data(**values: str) -> str:
    return " ".join(f'data-{name}="{escape(value)}"' for name, value in values.items())


def _document(title: str, body: str, script: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
        f"</head>\n<body>\n{body}\n<script>{script}</script>\n</body>\n</html>\n"
    )
