"""A self-submitting HTML form: relays a launch to a tenant's tool and returns Deep Linking content.

The page loads nothing from elsewhere. Its only script is a constant file, so a CSP allows it by hash rather
than with `'unsafe-inline'`; without script the visible button does it.
"""

import secrets
from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import urlsplit

from markupsafe import escape

from broker.inline_scripts import AUTO_POST
from broker.pages import render_document

# The part of the page's policy that never changes; `content_security_policy` adds the per-request parts.
CSP = f"default-src 'none'; script-src {AUTO_POST.csp_hash}; base-uri 'none'"
# Stands for each field's value in a page rendered once per action, title and field names: made anew in each
# process, so no action, title or name holds it but by a chance of 2^-128.
_VALUE = "v" + secrets.token_hex(16)


def content_security_policy(action_url: str, *, frame_ancestors: str) -> str:
    """The policy of one auto-post page: its own script only, the form may go only to `action_url`'s origin.

    The origin rather than the URL: browsers check `form-action` on redirects too, and a tool may redirect
    within its own site after reading the POST. `frame_ancestors`: launch pages live in the LMS's iframe.
    """
    target = urlsplit(action_url)
    return f"{CSP}; form-action {target.scheme}://{target.netloc}; frame-ancestors {frame_ancestors}"


def auto_post_form(action_url: str, fields: Mapping[str, str], *, title: str) -> str:
    """An HTML document that POSTs `fields` to `action_url` as soon as it loads."""
    # The action may come from a platform (deep_link_return_url); a `javascript:` URL would run on submit.
    target = urlsplit(action_url)
    if target.scheme not in ("https", "http") or not target.netloc:
        raise ValueError("the form can only post to an absolute http(s) URL")
    pieces = _page(action_url, title, tuple(fields))
    if pieces is None:
        return render_document("auto_post.html", _context(action_url, fields, title))
    page = [pieces[0]]
    for value, piece in zip(fields.values(), pieces[1:], strict=True):
        page += (escape(value), piece)
    return "".join(page)


@lru_cache(maxsize=256)
def _page(action_url: str, title: str, names: tuple[str, ...]) -> tuple[str, ...] | None:
    """The page rendered by its template around its field values (escaped into it as the template escapes them):
    a launch's relay page is the same for every launch of a tool but for its token, and rendering the template
    cost about 19 µs of a launch where filling this costs a few. None when the page does not split as expected."""
    page = render_document("auto_post.html", _context(action_url, dict.fromkeys(names, _VALUE), title))
    pieces = tuple(page.split(_VALUE))
    return pieces if len(pieces) == len(names) + 1 else None


def _context(action_url: str, fields: Mapping[str, str], title: str) -> dict[str, object]:
    return {"title": title, "action": action_url, "fields": fields, "script": AUTO_POST}
