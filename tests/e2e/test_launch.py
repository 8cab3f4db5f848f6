"""LTI 1.3 launches end to end: a platform emulator logs in, authorizes and form-posts like an LMS; the broker
validates and relays; a tool emulator verifies the `launch_token` with the tenant's JWKS. Then every refusal:
a clear 4xx page, a log line for the operator, and never a launch_token.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest
from sqlalchemy import select, update

from broker.inline_scripts import AUTO_POST
from broker.launch.states import LAUNCH_STATE_TTL, LaunchStates, NewState
from broker.registration.models import Registration
from broker.services import Services
from broker.webhooks.models import OutboxEvent
from tenants.models import Tenant
from tests.clock import Clock
from tests.conftest import RunningBroker
from tests.e2e.flow import register
from tests.e2e.launching import Registered, finish, launch, registered, relay_to_tool, start
from tests.emulators import REMOVE, CanvasEmulator, MoodleEmulator, PlatformEmulator
from tests.emulators.launch import LTI

LAUNCH_LOGGER = "broker.launch"


async def registration_item(http: httpx.AsyncClient, broker: RunningBroker, setup: Registered) -> dict:
    answer = await http.get(broker.url(f"/api/v1/registrations/{setup.registration['id']}"), headers=setup.api_headers)
    return answer.json()


def assert_refused(page: httpx.Response, status: int, words: str, caplog: pytest.LogCaptureFixture) -> None:
    """A 4xx page that says what happened and what to do, a log line, and no launch token anywhere."""
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert words in page.text, page.text
    assert "What to do" in page.text
    assert "launch_token" not in page.text
    assert any(r.name == LAUNCH_LOGGER and "launch refused" in r.getMessage() for r in caplog.records)
    assert all("eyJ" not in r.getMessage() for r in caplog.records), "no token in a log line"


# ----------------------------------------------------------------- happy paths
async def test_resource_link_launch_reaches_the_tool_with_a_verified_token(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        done = await launch(http, setup.platform)
        assert done.login.status_code == 302
        relay = done.relay
        assert relay is not None and relay.status_code == 200
        policy = relay.headers["content-security-policy"]
        assert f"script-src {AUTO_POST.csp_hash}" in policy
        assert f"form-action {setup.tool.base_url};" in policy
        assert "x-frame-options" not in relay.headers, "the LMS frames the launch"
        assert "Quiz &lt;Tool&gt;" in relay.text
        assert done.relay_form.action == setup.tool.launch_url
        answer = await relay_to_tool(http, done)
        assert answer.status_code == 200, answer.text

    (claims,) = setup.tool.launches
    (id_token,) = setup.platform.id_tokens
    assert claims["registration_id"] == setup.registration["id"]
    assert claims["lti"]["iss"] == setup.platform.issuer
    assert claims["lti"][LTI + "resource_link"]["id"] == "resource-1"
    assert claims["lti"]["nonce"] and claims["exp"] - claims["iat"] <= 300
    assert id_token not in relay.text, "the platform's id_token is not relayed as such"
    item = await registration_item(http, broker, setup)
    assert item["launched_at"] is not None


@pytest.mark.parametrize("emulator", [MoodleEmulator, CanvasEmulator])
async def test_launches_pass_each_platforms_authorization_rules(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, emulator: type[PlatformEmulator]
) -> None:
    async with registered(http, broker, services, emulator) as setup:
        done = await launch(http, setup.platform, method="GET")
        assert (await relay_to_tool(http, done)).status_code == 200
        (request,) = setup.platform.authorization_requests
    assert request["prompt"] == "none" and request["response_mode"] == "form_post"
    assert request["redirect_uri"] == broker.url(f"/t/{setup.slug}/lti/launch")
    assert len(setup.tool.launches) == 1


async def test_a_new_deployment_is_recorded_and_announced(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, CanvasEmulator) as setup:
        assert setup.registration["deployment_ids"] == []
        first = await launch(http, setup.platform, deployment_id="327:a17deed8")
        second = await launch(http, setup.platform, deployment_id="327:a17deed8")
    assert first.relay is not None and first.relay.status_code == 200
    assert second.relay is not None and second.relay.status_code == 200
    item = await registration_item(http, broker, setup)
    assert item["deployment_ids"] == ["327:a17deed8"]
    query = select(OutboxEvent).where(
        OutboxEvent.tenant_id == setup.tenant.tenant.id, OutboxEvent.type == "deployment.created"
    )
    async with services.database.session() as session:
        (event,) = (await session.scalars(query)).all()
    assert event.payload["data"]["id"] == setup.registration["id"]
    assert event.payload["data"]["deployment_ids"] == ["327:a17deed8"]
    assert event.payload["data"]["deployment_id"] == "327:a17deed8"


async def test_a_rotated_platform_key_is_fetched_once_and_accepted(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        await launch(http, setup.platform)
        setup.platform.rotate_key()
        done = await launch(http, setup.platform)
        jwks_fetches = [r for r in setup.platform.requests if r.path == "/lti/jwks"]
    assert done.relay is not None and done.relay.status_code == 200, done.relay.text
    assert len(jwks_fetches) == 2


async def test_login_sets_partitioned_cookies_and_a_browser_with_them_finishes(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        cookies = started.login.headers.get_list("set-cookie")
        assert len(cookies) == 2
        for cookie in cookies:
            assert f"Path=/t/{setup.slug}/lti/" in cookie
            assert all(part in cookie for part in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"))
        # httpx keeps no Secure cookie over http, as a browser would not: send them as the browser would.
        jar = "; ".join(cookie.split(";")[0] for cookie in cookies)
        assert started.platform_post is not None
        relay = await http.post(
            started.platform_post.action, data=started.platform_post.fields, headers={"Cookie": jar}
        )
    assert relay.status_code == 200, relay.text
    assert "Max-Age=0" in relay.headers["set-cookie"]


# ----------------------------------------------------------------- refusals at login
@pytest.mark.parametrize("missing", ["iss", "login_hint", "target_link_uri"])
async def test_login_without_a_required_parameter_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture, missing: str
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        started = setup.platform.login_initiation()
        params = {k: v for k, v in started.params.items() if k != missing}
        page = await http.post(started.url, data=params)
    assert_refused(page, 400, missing, caplog)
    assert not setup.platform.authorization_requests


async def test_login_from_an_unknown_issuer_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        started = setup.platform.login_initiation()
        page = await http.post(started.url, data={**started.params, "iss": "https://lms.evil.example"})
    assert_refused(page, 400, "not registered", caplog)
    assert "https://lms.evil.example" in page.text


async def test_login_for_an_unknown_client_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        started = setup.platform.login_initiation()
        page = await http.post(started.url, data={**started.params, "client_id": "<script>x</script>"})
    assert_refused(page, 400, "&lt;script&gt;x&lt;/script&gt;", caplog)
    assert "<script>x" not in page.text


async def test_login_without_client_id_works_alone_and_is_refused_when_ambiguous(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        alone = await launch(http, setup.platform, send_client_id=False)
        assert alone.relay is not None and alone.relay.status_code == 200
        # A second registration of the same issuer (the admin registered twice): now client_id is needed.
        await register(http, broker.url(f"/t/{setup.slug}/lti/register"), setup.platform)
        ambiguous = await start(http, setup.platform, send_client_id=False)
    assert_refused(ambiguous.login, 400, "did not send client_id", caplog)


@pytest.mark.parametrize("target", ["https://phish.example/steal", "https://[::1"])
async def test_login_with_a_foreign_or_malformed_target_link_uri_is_refused(
    http: httpx.AsyncClient,
    broker: RunningBroker,
    services: Services,
    caplog: pytest.LogCaptureFixture,
    target: str,
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform, target_link_uri=target)
    assert_refused(started.login, 400, "not this tool&#39;s launch URL", caplog)


async def test_login_for_an_unknown_tool_or_one_without_a_tool_url_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    unknown = await http.post(broker.url("/t/no-such-tool/lti/login"), data={"iss": "x"})
    assert_refused(unknown, 404, "No such tool", caplog)
    async with registered(http, broker, services) as setup:
        async with services.database.transaction() as session:
            await session.execute(update(Tenant).where(Tenant.id == setup.tenant.tenant.id).values(tool_url=None))
        # A fresh tenant row is read at most KEY_RING_TTL late; this tenant was never read for a launch.
        started = await start(http, setup.platform)
    assert_refused(started.login, 409, "no tool URL", caplog)


# ----------------------------------------------------------------- refusals at launch: the state
async def test_an_unknown_state_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        done = await finish(http, await start(http, setup.platform), state="made-up-state")
    assert done.relay is not None
    assert_refused(done.relay, 400, "unknown", caplog)


async def test_a_replayed_state_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        done = await launch(http, setup.platform)
        assert done.relay is not None and done.relay.status_code == 200
        again = await finish(http, done)
    assert again.relay is not None
    assert_refused(again.relay, 400, "already used", caplog)


async def test_an_expired_state_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        # The state a login sealed a moment more than its life ago: it holds its expiry.
        earlier = Clock(time.time() - LAUNCH_STATE_TTL.total_seconds() - 1)
        states = LaunchStates(services.database, broker.settings.secret_key, clock=earlier)
        new = NewState(setup.tenant.tenant.id, setup.registration["id"], "nonce", "https://tool.example/", None, None)
        done = await finish(http, started, state=states.begin(new))
    assert done.relay is not None
    assert_refused(done.relay, 400, "expired", caplog)


async def test_a_replayed_nonce_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        first = await launch(http, setup.platform)
        assert first.platform_post is not None
        second = await start(http, setup.platform)
        done = await finish(http, second, id_token=first.platform_post.fields["id_token"])
    assert done.relay is not None
    assert_refused(done.relay, 400, "nonce", caplog)


async def test_a_state_finished_by_a_browser_that_did_not_start_it_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Login CSRF: this browser keeps our cookies (it has the marker) but not the cookie of this state."""
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        started = await start(http, setup.platform)
        assert started.platform_post is not None
        relay = await http.post(
            started.platform_post.action, data=started.platform_post.fields, headers={"Cookie": "lti_cookies=1"}
        )
    assert_refused(relay, 400, "another browser", caplog)


async def test_an_error_from_the_platform_is_shown_escaped(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        done = await finish(
            http,
            await start(http, setup.platform),
            id_token="",
            error="login_required",
            error_description="<b>session</b> expired",
        )
    assert done.relay is not None
    assert_refused(done.relay, 400, "login_required: &lt;b&gt;session&lt;/b&gt; expired", caplog)


# ----------------------------------------------------------------- refusals at launch: the id_token
ID_TOKEN_CASES = {
    "bad signature": ({"id_token_signer": "impostor"}, "signature"),
    "unknown kid": ({"id_token_signer": "unknown_kid"}, "kid"),
    "alg none": ({"id_token_alg": "none"}, "alg"),
    "alg HS256": ({"id_token_alg": "HS256"}, "alg"),
    "wrong aud": ({"id_token_patch": {"aud": "someone-else"}}, "aud"),
    "expired": ({"id_token_patch": {"exp": 1_000_000_000, "iat": 999_999_000}}, "exp"),
    "missing message type": ({"id_token_patch": {LTI + "message_type": REMOVE}}, "message_type"),
    "missing resource link": ({"id_token_patch": {LTI + "resource_link": REMOVE}}, "resource_link"),
    "missing roles": ({"id_token_patch": {LTI + "roles": REMOVE}}, "roles"),
    "missing deployment id": ({"id_token_patch": {LTI + "deployment_id": REMOVE}}, "deployment_id"),
    "wrong version": ({"id_token_patch": {LTI + "version": "1.1"}}, "version"),
}


@pytest.mark.parametrize("case", list(ID_TOKEN_CASES))
async def test_a_bad_id_token_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    knobs, words = ID_TOKEN_CASES[case]
    async with registered(http, broker, services, **knobs) as setup:
        done = await launch(http, setup.platform)
        assert done.relay is not None
        assert_refused(done.relay, 400, words, caplog)
        assert not setup.tool.launches
    item = await registration_item(http, broker, setup)
    assert item["launched_at"] is None


async def test_an_unknown_kid_refetches_the_key_set_at_most_once_a_minute(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        await launch(http, setup.platform)  # the key set is fetched and cached
        setup.platform.id_token_signer = "unknown_kid"
        first = await launch(http, setup.platform)
        second = await launch(http, setup.platform)
        fetches = [r for r in setup.platform.requests if r.path == "/lti/jwks"]
    assert first.relay is not None and second.relay is not None
    assert_refused(first.relay, 400, "kid", caplog)
    assert_refused(second.relay, 400, "kid", caplog)
    assert len(fetches) == 2, "one fetch, then one refetch for the first unknown kid only"


async def test_a_refused_deployment_gets_no_token(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        async with services.database.transaction() as session:
            await session.execute(
                update(Tenant).where(Tenant.id == setup.tenant.tenant.id).values(accept_new_deployments=False)
            )
        known = await launch(http, setup.platform)
        unknown = await launch(http, setup.platform, deployment_id="not-approved-1")
    assert known.relay is not None and known.relay.status_code == 200
    assert unknown.relay is not None
    assert_refused(unknown.relay, 403, "not-approved-1", caplog)
    item = await registration_item(http, broker, setup)
    assert "not-approved-1" not in item["deployment_ids"]


async def test_an_unreachable_platform_key_set_is_a_clear_refusal(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services, jwks_response=(503, b"down for maintenance", "text/plain")) as setup:
        done = await launch(http, setup.platform)
    assert done.relay is not None
    assert_refused(done.relay, 424, "HTTP 503", caplog)


async def test_a_launch_of_a_pending_registration_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LAUNCH_LOGGER)
    async with registered(http, broker, services) as setup:
        async with services.database.transaction() as session:
            await session.execute(
                update(Registration).where(Registration.id == setup.registration["id"]).values(status="pending")
            )
        started = await start(http, setup.platform)
    assert_refused(started.login, 403, "pending", caplog)


@pytest.mark.parametrize("review", [True, False])
async def test_a_key_set_url_with_a_secret_looking_query_is_used_exactly_and_shown_redacted(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, review: bool
) -> None:
    secrets = {"key": "jwks-api-key-123", "token": "rat-456"}
    async with registered(
        http,
        broker,
        services,
        jwks_query={"key": secrets["key"]},
        registration_access_token=secrets["token"],
        tenant_settings={"review_registrations": review},
    ) as setup:
        done = await launch(http, setup.platform)
        path = f"/api/v1/registrations/{setup.registration['id']}"
        documents = await http.get(broker.url(path + "/documents"), headers=setup.api_headers)
        history = await http.get(broker.url(path + "/history"), headers=setup.api_headers)
    assert done.relay is not None and done.relay.status_code == 200, done.relay and done.relay.text
    assert setup.registration["jwks_uri"].endswith("/lti/jwks?key=[redacted]"), "the API shows a copy"
    for answer in (documents, history):
        assert answer.status_code == 200, answer.text
        assert not any(value in answer.text for value in secrets.values()), answer.text
    assert documents.json()["registration_response"]["registration_access_token"] == "[redacted]"
    async with services.database.session() as session:
        row = await session.get(Registration, setup.registration["id"])
    assert row is not None and row.endpoint_secrets
    stored = " ".join(str(value) for value in (row.jwks_uri, row.endpoint_secrets, row.registration_response))
    assert secrets["key"] not in stored and secrets["token"] not in stored, "encrypted at rest"
