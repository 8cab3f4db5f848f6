"""A self-submitting HTML form: relays a launch to a tenant's tool and returns Deep Linking content.

The page loads nothing from elsewhere. Its only script is a constant file, so a CSP allows it by hash rather
than with `'unsafe-inline'`; without script the visible button does it.
"""

from collections.abc import Mapping
from urllib.parse import urlsplit

from broker.inline_scripts import AUTO_POST
from broker.pages import render_document

# The part of the page's policy that never changes; `content_security_policy` adds the per-request parts.
CSP = f"default-src 'none'; script-src {AUTO_POST.csp_hash}; base-uri 'none'"


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
    context = {"title": title, "action": action_url, "fields": fields, "script": AUTO_POST}
    return render_document("auto_post.html", context)
