"""Every tenant on its own host (BROKER_TENANT_DOMAIN, custom host names): two tools of one broker register
and launch on the same LMS without touching each other, because each registers its own `domain`.

The broker here serves tenants at http://<slug>.lti.localhost:<port>; names under .localhost resolve to
127.0.0.1 in this test process (tests/conftest.py) and in Chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from broker.launch.client_storage import PROOF_FIELD
from broker.services import Services
from tenants.models import TenantHostname
from tenants.services import CreatedTenant
from tests.conftest import TENANT_DOMAIN, RunningBroker, unique_slug
from tests.e2e.flow import register
from tests.e2e.launching import launch, relay_to_tool
from tests.e2e.test_client_storage import storage_data
from tests.emulators import BlackboardEmulator, BrightspaceEmulator, MoodleEmulator, PlatformEmulator
from tests.emulators.launch import STORAGE_TARGET, parse_form_post
from tests.emulators.rules import TOOL_CONFIG_KEY
from tests.emulators.tool import ToolEmulator


def host_of(broker: RunningBroker, host: str) -> str:
    """The broker's URL on another host name (same scheme and port)."""
    return broker.base_url.replace("127.0.0.1", host)


async def tenant_item(http: httpx.AsyncClient, broker: RunningBroker, created: CreatedTenant) -> dict[str, Any]:
    answer = await http.get(broker.url("/api/v1/tenant"), headers={"Authorization": f"Bearer {created.api_key}"})
    assert answer.status_code == 200, answer.text
    item: dict[str, Any] = answer.json()
    return item


async def new_tenant(services: Services, broker: RunningBroker, tool: ToolEmulator, name: str) -> CreatedTenant:
    created = await services.tenants.create(unique_slug("host"), name, tool_url=tool.launch_url)
    # The launch token's issuer stays on the base host in every mode: tools never notice tenant hosts.
    tool.launch_issuer = broker.url(f"/t/{created.tenant.slug}")
    return created


@asynccontextmanager
async def on_moodle(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, name: str
) -> AsyncIterator[tuple[ToolEmulator, MoodleEmulator, CreatedTenant, str]]:
    """A new tenant registered with a Moodle from its subdomain: its tool, the Moodle, the tenant, its site."""
    with ToolEmulator.running() as tool, MoodleEmulator.running() as moodle:
        created = await new_tenant(services, broker, tool, name)
        site = host_of(broker, f"{created.tenant.slug}.{TENANT_DOMAIN}")
        assert (await register(http, site + "/lti/register", moodle)).last_page.status_code == 200
        yield tool, moodle, created, site


@pytest.mark.parametrize("emulator", [MoodleEmulator, BrightspaceEmulator, BlackboardEmulator])
async def test_two_tenants_register_and_launch_on_one_platform(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services, emulator: type[PlatformEmulator]
) -> None:
    with (
        ToolEmulator.running() as first_tool,
        ToolEmulator.running() as second_tool,
        emulator.running() as platform,
    ):
        # Moodle would offer to update a tool on the same domain; accepting is harmless when there is none.
        platform.set_knobs(**({"update_existing_tool": True} if emulator is MoodleEmulator else {}))
        tools = (first_tool, second_tool)
        tenants = [
            await new_tenant(hosts_services, hosts_broker, tool, name)
            for tool, name in zip(tools, ("Alpha Quiz", "Beta Quiz"), strict=True)
        ]
        for created in tenants:
            slug = created.tenant.slug
            item = await tenant_item(http, hosts_broker, created)
            site = host_of(hosts_broker, f"{slug}.{TENANT_DOMAIN}")
            assert (item["registration_url"], item["jwks_url"]) == (
                site + "/lti/register", site + "/.well-known/jwks.json",
            )
            done = await register(http, item["registration_url"], platform)
            assert done.last_page.status_code == 200, done.last_page.text
            sent = platform.registration_requests[-1].json
            assert sent[TOOL_CONFIG_KEY]["domain"] == f"{slug}.{TENANT_DOMAIN}:{site.rsplit(':', 1)[1]}"
            assert sent["initiate_login_uri"] == site + "/lti/login"
            assert sent["redirect_uris"] == [site + "/lti/launch"]
            # The platform gets the JWKS of the keys bound to it, on the tenant's host too.
            assert sent["jwks_uri"].startswith(site + "/keys/")
            assert (await http.get(sent["jwks_uri"])).json()["keys"]
            if isinstance(platform, BrightspaceEmulator):
                platform.enable(platform.registrations[-1]["client_id"])  # its domain now held by an enabled one

        assert len({r["client_id"] for r in platform.registrations}) == 2
        for created, tool, stored in zip(tenants, tools, platform.registrations, strict=True):
            done = await launch(http, platform, client_id=stored["client_id"])
            assert done.login.status_code == 302, done.login.text
            assert done.relay is not None and done.relay.status_code == 200, done.relay.text
            assert (await relay_to_tool(http, done)).status_code == 200
            (claims,) = tool.launches
            assert claims["iss"] == hosts_broker.url(f"/t/{created.tenant.slug}")


async def test_a_launch_on_a_tenant_host_binds_the_browser_on_that_host(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services
) -> None:
    async with on_moodle(http, hosts_broker, hosts_services, "Gamma Quiz") as (_tool, moodle, _created, site):
        done = await launch(http, moodle)
        cookies = done.login.headers.get_list("set-cookie")
        assert cookies and all("Path=/lti/;" in cookie for cookie in cookies)
        (request,) = moodle.authorization_requests
        assert request["redirect_uri"] == site + "/lti/launch"
        assert done.relay is not None and done.relay.status_code == 200, done.relay.text


async def test_a_tenant_host_serves_its_public_routes_only(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services
) -> None:
    with ToolEmulator.running() as tool:
        created = await new_tenant(hosts_services, hosts_broker, tool, "Delta Quiz")
        other = await new_tenant(hosts_services, hosts_broker, tool, "Epsilon Quiz")
    slug, site = created.tenant.slug, host_of(hosts_broker, f"{created.tenant.slug}.{TENANT_DOMAIN}")
    keys = (await http.get(site + "/.well-known/jwks.json")).json()["keys"]
    assert [key["kid"] for key in keys] == [created.kid]
    assert (await http.get(site + "/lti/register")).status_code == 400  # there: it asks for openid_configuration
    api_key = {"Authorization": f"Bearer {created.api_key}"}
    for path in ("/api/v1/tenant", "/api/v1/openapi.json", "/console/", "/admin/", "/login", "/",
                 f"/t/{slug}/lti/register", f"/t/{other.tenant.slug}/.well-known/jwks.json"):  # fmt: skip
        page = await http.get(site + path, headers=api_key)
        assert page.status_code == 404, (path, page.text)
        assert "text/html" in page.headers["content-type"] and "Page not found" in page.text
    # Host header spoofing on the base address reaches the same tenant-only routes.
    other_host = {"Host": f"{other.tenant.slug}.{TENANT_DOMAIN}"}
    spoofed = await http.get(hosts_broker.url("/api/v1/tenant"), headers={**api_key, **other_host})
    assert spoofed.status_code == 404
    other_keys = await http.get(hosts_broker.url("/.well-known/jwks.json"), headers=other_host)
    assert [key["kid"] for key in other_keys.json()["keys"]] == [other.kid]
    # The base host still serves everything, /t/<slug> paths included.
    assert (await http.get(hosts_broker.url(f"/t/{slug}/.well-known/jwks.json"))).status_code == 200
    assert (await http.get(hosts_broker.url("/api/v1/tenant"), headers=api_key)).status_code == 200


@pytest.mark.parametrize(
    "host", ["nobody.example", f"no-such-tenant.{TENANT_DOMAIN}", TENANT_DOMAIN, "a.b." + TENANT_DOMAIN]
)
async def test_an_unknown_host_is_a_404_page(http: httpx.AsyncClient, hosts_broker: RunningBroker, host: str) -> None:
    for path in ("/", "/lti/register", "/.well-known/jwks.json", "/api/v1/tenant"):
        page = await http.get(hosts_broker.url(path), headers={"Host": host})
        assert page.status_code == 404, (host, path, page.text)
        assert "text/html" in page.headers["content-type"] or "json" in page.headers["content-type"]
    assert (await http.get(hosts_broker.url("/healthz"), headers={"Host": host})).status_code == 200


async def test_a_custom_hostname_takes_the_urls_and_the_old_ones_keep_working(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services
) -> None:
    async with on_moodle(http, hosts_broker, hosts_services, "Zeta Quiz") as (tool, moodle, created, _subdomain):
        first_client = moodle.registrations[-1]["client_id"]

        own = f"zeta-{created.tenant.slug}.localhost"
        changed = await http.patch(
            hosts_broker.url("/api/v1/tenant"), json={"hostname": own.upper() + "."},
            headers={"Authorization": f"Bearer {created.api_key}"},
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert changed.json()["hostname"] == own
        assert changed.json()["registration_url"] == host_of(hosts_broker, own) + "/lti/register"

        # The registration made on the subdomain still launches there until the LMS is updated.
        done = await launch(http, moodle, client_id=first_client)
        assert done.relay is not None and done.relay.status_code == 200, done.login.text
        # A new registration is made on the tenant's own host, and works there.
        assert (await register(http, changed.json()["registration_url"], moodle)).last_page.status_code == 200
        assert moodle.registrations[-1]["initiate_login_uri"] == host_of(hosts_broker, own) + "/lti/login"
        done = await launch(http, moodle)
        assert done.relay is not None and done.relay.status_code == 200, done.login.text

        # The API says which registrations still use the subdomain.
        listed = await http.get(
            hosts_broker.url("/api/v1/registrations"), headers={"Authorization": f"Bearer {created.api_key}"}
        )
        port = hosts_broker.base_url.rsplit(":", 1)[1]
        hosts = {item["client_id"]: item["tool_host"] for item in listed.json()["items"]}
        assert hosts == {
            first_client: f"{created.tenant.slug}.{TENANT_DOMAIN}:{port}",
            moodle.registrations[-1]["client_id"]: f"{own}:{port}",
        }
        # Moving on again: the name it had keeps serving it, and is never given to another tenant.
        await hosts_services.tenants.update(created.tenant.id, {"hostname": f"zeta2-{created.tenant.slug}.localhost"})
        done = await launch(http, moodle)
        assert done.relay is not None and done.relay.status_code == 200, done.login.text
        thief = await new_tenant(hosts_services, hosts_broker, tool, "Eta Quiz")
        taken = await http.patch(
            hosts_broker.url("/api/v1/tenant"), json={"hostname": own},
            headers={"Authorization": f"Bearer {thief.api_key}"},
        )  # fmt: skip
        assert taken.status_code == 422 and taken.json()["field"] == "hostname"
        assert "belongs to another tool" in taken.json()["detail"]


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        ("lti.acme.example:8443", "port"),
        ("lti_acme.example", "underscore"),
        ("bücher.example", "xn--bcher-kva.example"),
        (TENANT_DOMAIN, "BROKER_TENANT_DOMAIN"),
        (f"someone.{TENANT_DOMAIN}", "BROKER_TENANT_DOMAIN"),
        ("127.0.0.1", "IP address"),
        (42, "valid string"),
    ],
)
async def test_a_refused_hostname_is_a_422_problem_naming_it(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services, hostname: object, reason: str
) -> None:
    with ToolEmulator.running() as tool:
        created = await new_tenant(hosts_services, hosts_broker, tool, "Theta Quiz")
    answer = await http.patch(
        hosts_broker.url("/api/v1/tenant"), json={"hostname": hostname},
        headers={"Authorization": f"Bearer {created.api_key}"},
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "hostname" and reason in answer.json()["detail"]
    assert (await tenant_item(http, hosts_broker, created))["hostname"] is None


async def test_a_host_that_names_a_tenant_two_ways_reaches_one_tenant(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services
) -> None:
    """A name taken before BROKER_TENANT_DOMAIN covered it (old data, past today's check) is read as the
    subdomain it now is: it reaches that tenant only, never the one that had taken it."""
    with ToolEmulator.running() as tool:
        owner = await new_tenant(hosts_services, hosts_broker, tool, "Iota Quiz")
        squatter = await new_tenant(hosts_services, hosts_broker, tool, "Kappa Quiz")
    name = f"{owner.tenant.slug}.{TENANT_DOMAIN}"
    async with hosts_services.database.transaction() as session:
        session.add(TenantHostname(hostname=name, tenant_id=squatter.tenant.id))
    keys = (await http.get(host_of(hosts_broker, name) + "/.well-known/jwks.json")).json()["keys"]
    assert [key["kid"] for key in keys] == [owner.kid]


async def test_the_storage_binding_on_a_tenant_host_trusts_that_hosts_pages_only(
    http: httpx.AsyncClient, hosts_broker: RunningBroker, hosts_services: Services
) -> None:
    async with on_moodle(http, hosts_broker, hosts_services, "Lambda Quiz") as (_tool, moodle, _created, site):
        moodle.storage_target = STORAGE_TARGET

        async def proof_from(origin: str) -> httpx.Response:
            """A cookieless launch: the login's storage page, the platform's post, then the storage proof."""
            started = moodle.login_initiation()
            login = await http.post(started.url, data=started.params, headers=started.browser_headers("POST"))
            assert login.status_code == 200 and "form-action 'self'" in login.headers["content-security-policy"]
            put = storage_data(login.text)
            platform_post = parse_form_post((await http.get(put["next"])).text)
            check = parse_form_post((await http.post(platform_post.action, data=platform_post.fields)).text)
            assert check.action == site + "/lti/launch"
            fields = {**check.fields, PROOF_FIELD: put["value"]}
            return await http.post(check.action, data=fields, headers={"Origin": origin})

        relay = await proof_from(site)
        assert relay.status_code == 200 and "launch_token" in relay.text, relay.text
        # The base host is another origin than the tenant's: a page there cannot vouch for this launch.
        elsewhere = await proof_from(hosts_broker.base_url)
        assert elsewhere.status_code == 400 and "launch_token" not in elsewhere.text
