"""The pages' scripts: files in broker/static/, read once when the broker starts, inlined into their pages and
allowed there by their hash in the page's Content-Security-Policy (never by 'unsafe-inline').

A script reads every value it needs from its page's escaped data-* attributes, so its text, and with it its
hash, is the same on every page.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class InlineScript:
    source: Markup  # a constant file, so a template may inline it unescaped
    csp_hash: str  # the CSP source expression that allows it: 'sha256-…'


def script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def _load(*names: str) -> InlineScript:
    """One inline script from these files, in this order (a shared file first, then the page's own)."""
    source = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in names)
    return InlineScript(Markup(source), script_hash(source))  # noqa: S704 - our own files, not input


CLOSE = _load("close.js")
AUTO_POST = _load("auto_post.js")
STORAGE_PUT = _load("lti_storage.js", "storage_put.js")
STORAGE_GET = _load("lti_storage.js", "storage_get.js")
