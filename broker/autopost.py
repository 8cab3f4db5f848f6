"""A self-submitting HTML form: relays a launch to a tenant's tool and returns Deep Linking content.

The page loads nothing from elsewhere. Its only script is a constant, so a CSP can allow it by hash
(`AUTO_POST_SCRIPT_HASH`) rather than with `'unsafe-inline'`; without script the visible button does it.
"""

import base64
import hashlib
from collections.abc import Mapping
from html import escape
from urllib.parse import urlsplit

_SCRIPT = "document.forms[0].submit();"
AUTO_POST_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
# The part of the page's policy that never changes; `content_security_policy` adds the per-request parts.
CSP = f"default-src 'none'; script-src '{AUTO_POST_SCRIPT_HASH}'; base-uri 'none'"


def content_security_policy(action_url: str, *, frame_ancestors: str) -> str:
    """The policy of one auto-post page: its own script only, the form may go only to `action_url`'s origin.

    The origin rather than the URL: browsers check `form-action` on redirects too, and a tool may redirect
    within its own site after reading the POST. `frame_ancestors`: launch pages live in the LMS's iframe.
    """
    target = urlsplit(action_url)
    return f"{CSP}; form-action {target.scheme}://{target.netloc}; frame-ancestors {frame_ancestors}"


def hidden_inputs(fields: Mapping[str, str]) -> str:
    """Hidden form fields, every name and value escaped."""
    return "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in fields.items()
    )


def auto_post_form(action_url: str, fields: Mapping[str, str], *, title: str) -> str:
    """An HTML document that POSTs `fields` to `action_url` as soon as it loads."""
    # The action may come from a platform (deep_link_return_url); a `javascript:` URL would run on submit.
    target = urlsplit(action_url)
    if target.scheme not in ("https", "http") or not target.netloc:
        raise ValueError("the form can only post to an absolute http(s) URL")
    inputs = hidden_inputs(fields)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
</head>
<body>
<form method="post" action="{escape(action_url)}">
{inputs}
<p>{escape(title)}</p>
<button type="submit">Continue</button>
</form>
<script>{_SCRIPT}</script>
</body>
</html>
"""
