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
# For the response carrying the page. No `frame-ancestors`: launch pages live in the platform's iframe,
# and no `form-action`: the target is the tool's or the platform's URL, known only per request.
CSP = f"default-src 'none'; script-src '{AUTO_POST_SCRIPT_HASH}'; base-uri 'none'"


def auto_post_form(action_url: str, fields: Mapping[str, str], *, title: str) -> str:
    """An HTML document that POSTs `fields` to `action_url` as soon as it loads."""
    # The action may come from a platform (deep_link_return_url); a `javascript:` URL would run on submit.
    target = urlsplit(action_url)
    if target.scheme not in ("https", "http") or not target.netloc:
        raise ValueError("the form can only post to an absolute http(s) URL")
    inputs = "\n".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )
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
