"""Binding a launch's `state` to the browser that started the login, with cookies where the browser keeps them.

The launch pages live in the LMS's iframe, where third-party cookies are partitioned (Chrome, Firefox) or
blocked (Safari), so a launch must also work with no cookie at all: then the signed, single-use, expiring
`state` held in the database is the only binding. Where cookies work they add the protection OIDC means
`state` to give against login CSRF (someone making your browser finish *their* launch):

* the login sets a cookie named for its state, and a marker cookie saying "this browser keeps our cookies";
* at the launch, the state's own cookie proves the binding; a browser that sends the marker but not the
  state's cookie did not start this login, and is refused; a browser that sends neither keeps no cookies
  here, and is accepted on the state alone, unless the login offered the LMS's postMessage storage
  (`client_storage.py`), which then binds the launch instead.

Per-state cookie names, rather than one cookie holding the state, let several launches run at once (an LMS
page can embed several tools) without overwriting each other's binding.
"""

from __future__ import annotations

from collections.abc import Mapping

STATE_COOKIE_PREFIX = "lti_state_"
MARKER_COOKIE = "lti_cookies"
STATE_COOKIE_MAX_AGE = 600
MARKER_COOKIE_MAX_AGE = 30 * 24 * 3600


def cookie_path(site_path: str) -> str:
    """Cookies are scoped to one tenant's launch URLs (`site_path`: "/t/<slug>" on the base host, "" on the
    tenant's own host), so tenants never see each other's."""
    return f"{site_path}/lti/"


def state_cookie_name(state_digest: str) -> str:
    # The digest, not the state: the cookie jar then holds nothing that could finish a launch.
    return STATE_COOKIE_PREFIX + state_digest[:24]


def set_cookie_header(name: str, site_path: str, max_age: int) -> str:
    """A `Set-Cookie` value for one of our binding cookies (written by hand: Python's `http.cookies` knows
    `Partitioned` only from 3.14).

    SameSite=None: the launch is a cross-site form post from the LMS. Partitioned (CHIPS): inside the LMS's
    iframe, browsers that block third-party cookies still keep one partitioned to the LMS's site.
    """
    return f"{name}=1; Max-Age={max_age}; Path={cookie_path(site_path)}; Secure; HttpOnly; SameSite=None; Partitioned"


def browser_started_login(cookies: Mapping[str, str], state_digest: str) -> bool:
    """False only when this browser keeps our cookies yet holds none for this state (see the module doc)."""
    return state_cookie_name(state_digest) in cookies or MARKER_COOKIE not in cookies
