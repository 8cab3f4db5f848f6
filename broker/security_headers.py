"""The security headers each response gets, by its path: decided once per response, written by the broker's
middleware (`broker.middleware`) in the same list as the request id."""

from __future__ import annotations

import re
from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

# Registration and launch pages are shown inside the LMS, so only they (and, in `make run`, the demo tool that
# launches reach and the demo LMS's pages shown in its own frame) may be framed.
_FRAMABLE = re.compile(r"^(/t/[^/]+/lti/|/demo/tool$|/demo/lms/)")
# Public key sets are fetched by platforms' servers on every launch and never shown as a page, so framing and
# referrer rules do not apply to them; each header costs the server about 2 microseconds to write.
_KEY_SET_SUFFIX = "/.well-known/jwks.json"
_CSP = b"content-security-policy"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_KEY_SET_HEADERS = (_NOSNIFF,)
_FRAMABLE_HEADERS = (_NOSNIFF, (b"referrer-policy", b"no-referrer"))
_NOT_FRAMABLE_HEADERS = (*_FRAMABLE_HEADERS, (b"x-frame-options", b"DENY"))
# A response with a policy of its own keeps it (pages set theirs with frame-ancestors); others get this one.
_NOT_FRAMABLE_HEADERS_WITH_CSP = (*_NOT_FRAMABLE_HEADERS, (_CSP, b"frame-ancestors 'none'"))


def security_headers(path: str, own: Iterable[tuple[bytes, bytes]], *added: tuple[bytes, bytes]) -> Headers:
    """A new list: a response's headers (`own`), the security headers for `path`, then `added`."""
    if path.endswith(_KEY_SET_SUFFIX):
        return [*own, *_KEY_SET_HEADERS, *added]
    if _FRAMABLE.match(path):
        return [*own, *_FRAMABLE_HEADERS, *added]
    own = list(own)
    has_policy = any(name == _CSP for name, _ in own)
    return [*own, *(_NOT_FRAMABLE_HEADERS if has_policy else _NOT_FRAMABLE_HEADERS_WITH_CSP), *added]
