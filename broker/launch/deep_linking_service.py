"""The tool's Deep Linking answer: its content items, checked against the launch that asked for them, signed
by the tenant's key for the platform, and the form that carries them back to the LMS.

The rules of the response are the pure functions of `deep_linking.py`; this service finds the launch's
registration and the tenant's key, and gives each item's launchable URL the broker URL that stands for it
(`item_links.py`). Every refusal is a `DeepLinkingRefused` (problem details for the API).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker.autopost import auto_post_form
from broker.launch import errors
from broker.launch.deep_linking import DeepLinkingError, build_deep_linking_response
from broker.launch.directory import LaunchDirectory, RegistrationView
from broker.launch.item_links import ItemLinks, ItemUrlError, with_broker_urls
from broker.launch.launch_token import LaunchTokenError, read_launch_token
from broker.launch.messages import LtiMessageError
from broker.settings import Settings
from tenants.hosts import site_of
from tenants.keys import KeyRing
from tenants.models import Tenant


@dataclass(frozen=True)
class DeepLinkingAnswer:
    deep_link_return_url: str
    jwt: str
    html: str


class DeepLinkingService:
    def __init__(self, settings: Settings, key_ring: KeyRing, directory: LaunchDirectory) -> None:
        self.settings = settings
        self.key_ring = key_ring
        self.directory = directory
        self.items = ItemLinks(settings)

    async def response(self, tenant: Tenant, launch_token: object, content_items: object) -> DeepLinkingAnswer:
        """The signed response to the Deep Linking launch that `launch_token` relayed to the tool."""
        if not isinstance(launch_token, str) or not launch_token:
            raise errors.DeepLinkingRefused("launch_token: required, the launch_token your tool received")
        if not isinstance(content_items, list):
            raise errors.DeepLinkingRefused("content_items: required, an array (possibly empty)")
        keys = await self.key_ring.get(tenant.slug)
        if keys is None:
            raise errors.DeepLinkingRefused("the tenant has no signing keys", status_code=409)
        try:
            claims = read_launch_token(
                launch_token, keys=keys.key_set(), issuer=self.settings.tenant_url(tenant.slug), now=time.time()
            )
        except LaunchTokenError as error:
            raise errors.DeepLinkingRefused(f"launch_token: {error.field}: {error.reason}") from error
        registration = await self._registration(tenant, claims)
        # Signed with the key bound to the registration's platform, which only that platform trusts.
        platform_keys = await self.key_ring.get(tenant.slug, registration.key_set)
        if platform_keys is None or platform_keys.signing_key is None:
            raise errors.DeepLinkingRefused("the tenant has no active signing key for this platform", status_code=409)
        try:
            response = build_deep_linking_response(
                claims["lti"], content_items, signing_key=platform_keys.signing_key, client_id=registration.client_id,
                now=time.time(), launchable=self._launchable(tenant, registration),
            )
        except (DeepLinkingError, LtiMessageError, ItemUrlError) as error:
            raise errors.DeepLinkingRefused(str(error), status_code=422) from error
        try:
            html = auto_post_form(response.return_url, {"JWT": response.jwt}, title="Returning to your course…")
        except ValueError as error:
            raise errors.DeepLinkingRefused(
                "the launch's deep_link_return_url is not an http(s) URL; the LMS sent a bad one", status_code=422
            ) from error
        return DeepLinkingAnswer(response.return_url, response.jwt, html)

    def _launchable(
        self, tenant: Tenant, registration: RegistrationView
    ) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
        """The items with the broker URLs that launch them in place of their tool URLs."""
        if not tenant.tool_url:
            raise errors.DeepLinkingRefused("the tenant has no tool URL, so its items cannot launch", status_code=409)
        tool_url = tenant.tool_url
        site = site_of(self.settings, tenant)  # its own host when it has one

        def broker_url(path: str) -> str:
            return self.items.broker_url(site, registration.id, tool_url, path)

        return lambda items: with_broker_urls(items, tool_url, broker_url)

    async def _registration(self, tenant: Tenant, claims: dict[str, Any]) -> RegistrationView:
        registration_id = claims.get("registration_id")
        registration = await self.directory.registration(registration_id) if isinstance(registration_id, str) else None
        if registration is None or registration.tenant_id != tenant.id:
            raise errors.DeepLinkingRefused("launch_token: its registration no longer exists", status_code=404)
        return registration
