"""Deep-linked items: the broker URL that stands for a content item's tool URL, and reading it back.

A platform launches a stored content item by sending the item's `url` as `target_link_uri`, and the broker
takes only its own URLs there (anything else would make the login an open redirect). So in the signed Deep
Linking response each launchable URL on the tool's origin becomes a broker URL of the tenant carrying the tool
URL's path and query, with a MAC bound to the registration the item was made for:

* nobody can make one for another path, so the launch never goes anywhere the tool did not deep-link;
* one made for a platform is refused on any other (Open edX names the item only in the id_token, so the launch
  takes an item URL there only when it was issued for the registration of the launch);
* it holds a path, not an origin: the launch goes to the tool URL's origin of the day.

The rules are pure functions over a key and URLs; `ItemLinks` applies them to a tenant's URLs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from broker.refusals import FieldError
from broker.settings import Settings
from tenants.encryption import derive_key
from tenants.hosts import TenantSite, path_site

# Under the tenant's URL prefix, beside the launch URL.
ITEM_PATH = "/lti/items/"
_MAC_BYTES = 16
RESOURCE_LINK_ITEM = "ltiResourceLink"


class ItemUrlError(FieldError):
    subject = "content item field"


class ItemLinks:
    """The item URLs of this broker's tenants, signed with a key derived from the broker's secret key."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key = derive_key(settings.secret_key, "deep-linked item urls v1")

    def broker_url(self, site: TenantSite, registration_id: str, tool_url: str, path: str) -> str:
        """The URL the platform keeps for the tool path `path`: the launch URL itself for the tool URL's own."""
        if path == tool_path(tool_url, tool_url):
            return site.launch_url
        return site.url(ITEM_PATH + item_token(self._key, registration_id, path))

    def token_in(self, slug: str, target_link_uri: str) -> str | None:
        """The item token of a target_link_uri that is one of the tenant's item URLs, on any of its hosts (query
        ignored): the tenant may have moved to a host of its own since, and the token's MAC, not the host, is
        what proves the item (a token relays only to the tool's origin)."""
        try:
            path = urlsplit(target_link_uri).path
        except ValueError:
            return None
        for prefix in (path_site(self.settings, slug).path_prefix + ITEM_PATH, ITEM_PATH):
            token = path.removeprefix(prefix)
            if path.startswith(prefix) and token and "/" not in token:
                return token
        return None

    def path_of(self, registration_id: str, token: str) -> str | None:
        return item_path(self._key, registration_id, token)


def item_token(key: bytes, registration_id: str, path: str) -> str:
    """The last segment of an item's broker URL: the tool URL's path and query, and their MAC."""
    return f"{_b64(path.encode())}.{_b64(_mac(key, registration_id, path))}"


def item_path(key: bytes, registration_id: str, token: str) -> str | None:
    """The tool path a token stands for, when it was issued for this registration and is intact; else None."""
    encoded, _, mac = token.partition(".")
    try:
        path = _unb64(encoded).decode()
        given = _unb64(mac)
    except (binascii.Error, UnicodeDecodeError):
        return None
    return path if hmac.compare_digest(given, _mac(key, registration_id, path)) else None


def tool_path(tool_url: str, url: str) -> str:
    """The path and query of `url`, which must be on the tool URL's origin (ValueError otherwise)."""
    tool, target = urlsplit(tool_url), urlsplit(url)
    if (target.scheme.lower(), target.netloc.lower()) != (tool.scheme.lower(), tool.netloc.lower()):
        raise ValueError(f"{url!r} is not on the tool URL's origin {tool.scheme}://{tool.netloc}")
    path = target.path or "/"
    return f"{path}?{target.query}" if target.query else path


def tool_target(tool_url: str, path: str) -> str:
    """The URL on the tool URL's origin that an item's path stands for."""
    tool = urlsplit(tool_url)
    return f"{tool.scheme}://{tool.netloc}{path}"


def with_broker_urls(
    content_items: list[dict[str, Any]], tool_url: str, broker_url: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The items, each launchable URL (an `ltiResourceLink`'s `url` and submission review URL) replaced by
    `broker_url(its tool path)`. Raises `ItemUrlError` naming the item whose URL is off the tool's origin."""
    return [
        _with_broker_urls(item, f"content_items[{index}]", tool_url, broker_url)
        for index, item in enumerate(content_items)
    ]


def _with_broker_urls(
    item: dict[str, Any], where: str, tool_url: str, broker_url: Callable[[str], str]
) -> dict[str, Any]:
    if item.get("type") != RESOURCE_LINK_ITEM:
        return item
    item = dict(item)
    if "url" in item:
        item["url"] = _broker_url(item["url"], f"{where}.url", tool_url, broker_url)
    line_item = item.get("lineItem")
    if not isinstance(line_item, dict):
        return item
    review = line_item.get("submissionReview")
    if isinstance(review, dict) and "url" in review:
        where = f"{where}.lineItem.submissionReview.url"
        review = {**review, "url": _broker_url(review["url"], where, tool_url, broker_url)}
        item["lineItem"] = {**line_item, "submissionReview": review}
    return item


def _broker_url(url: object, where: str, tool_url: str, broker_url: Callable[[str], str]) -> str:
    if not isinstance(url, str):
        raise ItemUrlError(where, "must be a string")
    try:
        return broker_url(tool_path(tool_url, url))
    except ValueError as error:
        raise ItemUrlError(where, f"{error}; the items a tool deep-links launch on its own origin") from error


def _mac(key: bytes, registration_id: str, path: str) -> bytes:
    message = f"{registration_id}\n{path}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or "=" in text:
        raise binascii.Error("empty or padded")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
