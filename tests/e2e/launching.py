"""Driving an LTI 1.3 launch as the LMS and the browser do: the LMS starts the login at the broker, the
browser follows the redirect to the platform's authorization endpoint, then posts the platform's form_post
(the id_token) to the broker, whose answer is the relay page that would post `launch_token` to the tool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from broker.services import Services
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.emulators import GenericEmulator, PlatformEmulator
from tests.emulators.launch import FormPost, LoginInitiation, parse_form_post
from tests.emulators.tool import ToolEmulator


@dataclass
class Launch:
    initiation: LoginInitiation
    login: httpx.Response
    authorization: httpx.Response | None = None
    platform_post: FormPost | None = None
    relay: httpx.Response | None = None

    @property
    def relay_form(self) -> FormPost:
        assert self.relay is not None and self.relay.status_code == 200, self.relay and self.relay.text
        return parse_form_post(self.relay.text)

    @property
    def launch_token(self) -> str:
        return self.relay_form.fields["launch_token"]


async def start(
    http: httpx.AsyncClient, platform: PlatformEmulator, *, method: str = "POST", **initiation: Any
) -> Launch:
    """The LMS's login initiation at the broker, and the browser at the platform's authorization endpoint."""
    started = platform.login_initiation(**initiation)
    headers = started.browser_headers(method)
    if method == "GET":
        login = await http.get(started.url, params=started.params, headers=headers)
    else:
        login = await http.post(started.url, data=started.params, headers=headers)
    launch = Launch(started, login)
    if login.status_code == 302:
        launch.authorization = await http.get(login.headers["location"])
        launch.platform_post = parse_form_post(launch.authorization.text)
    return launch


async def finish(http: httpx.AsyncClient, launch: Launch, **overrides: str) -> Launch:
    """The browser posts the platform's form_post (with `overrides` applied) to the broker."""
    assert launch.platform_post is not None, launch.login.text
    fields = {**launch.platform_post.fields, **overrides}
    launch.relay = await http.post(launch.platform_post.action, data=fields)
    return launch


async def launch(http: httpx.AsyncClient, platform: PlatformEmulator, **initiation: Any) -> Launch:
    return await finish(http, await start(http, platform, **initiation))


async def relay_to_tool(http: httpx.AsyncClient, launch: Launch) -> httpx.Response:
    """The relay page's auto-submitted form, posted to the tenant's tool."""
    form = launch.relay_form
    return await http.post(form.action, data=form.fields)


@dataclass
class Registered:
    """A tenant whose tool (a `ToolEmulator`) is registered with a running platform emulator."""

    platform: PlatformEmulator
    tool: ToolEmulator
    tenant: CreatedTenant
    registration: dict[str, Any]
    confirmation: httpx.Response

    @property
    def slug(self) -> str:
        return self.tenant.tenant.slug

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tenant.api_key}"}


@asynccontextmanager
async def registered(
    http: httpx.AsyncClient,
    broker: RunningBroker,
    services: Services,
    emulator: type[PlatformEmulator] = GenericEmulator,
    *,
    tool_configuration: dict[str, Any] | None = None,
    tenant_settings: dict[str, Any] | None = None,
    **knobs: Any,
) -> AsyncIterator[Registered]:
    """Register a new tenant's tool with a fresh platform emulator, through the broker's own pages."""
    with ToolEmulator.running() as tool, emulator.running(**knobs) as platform:
        created = await services.tenants.create(
            unique_slug("lti"), "Quiz <Tool>", tool_url=tool.launch_url, tool_configuration=tool_configuration
        )
        if tenant_settings:
            await services.tenants.update(created.tenant.id, tenant_settings)
        slug = created.tenant.slug
        tool.launch_issuer = broker.url(f"/t/{slug}")
        outcome = await register(http, broker.url(f"/t/{slug}/lti/register"), platform)
        assert outcome.last_page.status_code == 200, outcome.last_page.text
        headers = {"Authorization": f"Bearer {created.api_key}"}
        (item,) = (await http.get(broker.url("/api/v1/registrations"), headers=headers)).json()["items"]
        yield Registered(platform, tool, created, item, outcome.last_page)
