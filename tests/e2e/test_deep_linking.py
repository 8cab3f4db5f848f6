"""Deep Linking end to end: the platform's LtiDeepLinkingRequest is relayed to the tool, the tool hands its
content items to the broker's API, and the signed response goes back to the platform, which verifies it
with the tenant's JWKS. Then the API's refusals.
"""

from __future__ import annotations

import httpx

from broker.services import Services
from tests.conftest import RunningBroker
from tests.e2e.launching import Registered, launch, registered, relay_to_tool
from tests.emulators.launch import DEEP_LINKING, DL, LTI, parse_form_post

ITEMS = [{"type": "ltiResourceLink", "title": "Quiz <1>", "text": "Ten questions"}]


async def respond(
    http: httpx.AsyncClient, broker: RunningBroker, setup: Registered, launch_token: str, items: object = ITEMS
) -> httpx.Response:
    return await http.post(
        broker.url("/api/v1/deep-linking/response"),
        json={"launch_token": launch_token, "content_items": items},
        headers=setup.api_headers,
    )


async def test_deep_linking_round_trip(http: httpx.AsyncClient, broker: RunningBroker, services: Services) -> None:
    async with registered(http, broker, services) as setup:
        done = await launch(http, setup.platform, message_type=DEEP_LINKING)
        assert (await relay_to_tool(http, done)).status_code == 200
        (received,) = setup.tool.launches
        answer = await respond(http, broker, setup, done.launch_token)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        form = parse_form_post(body["html"])
        returned = await http.post(form.action, data=form.fields)
        assert returned.status_code == 200, returned.text
        (response,) = setup.platform.deep_link_responses

    settings = received["lti"][DL + "deep_linking_settings"]
    assert body["deep_link_return_url"] == settings["deep_link_return_url"] == form.action
    assert form.fields == {"JWT": body["jwt"]}
    assert response["iss"] == setup.registration["client_id"]
    assert response["aud"] == setup.platform.issuer
    assert response[DL + "content_items"] == ITEMS
    assert response[DL + "data"] == settings["data"], "the platform's data comes back verbatim"
    assert response[LTI + "deployment_id"] == received["lti"][LTI + "deployment_id"]
    assert "Quiz &lt;1&gt;" not in body["html"], "content items travel only inside the JWT"


async def test_a_resource_link_launch_cannot_be_answered_with_content(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        done = await launch(http, setup.platform)
        answer = await respond(http, broker, setup, done.launch_token)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "cannot be answered with content" in answer.json()["detail"]


async def test_content_the_platform_does_not_accept_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as setup:
        done = await launch(http, setup.platform, message_type=DEEP_LINKING)
        answer = await respond(http, broker, setup, done.launch_token, [{"type": "html", "html": "<p>x</p>"}])
    assert answer.status_code == 422
    assert "content_items[0].type" in answer.json()["detail"]


async def test_a_launch_token_of_another_tenant_or_altered_is_refused(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services) as first, registered(http, broker, services) as second:
        done = await launch(http, first.platform, message_type=DEEP_LINKING)
        foreign = await respond(http, broker, second, done.launch_token)
        header, payload, signature = done.launch_token.split(".")
        altered = await respond(http, broker, first, f"{header}.{payload}x.{signature}")
        missing = await respond(http, broker, first, "")
        unauthenticated = await http.post(
            broker.url("/api/v1/deep-linking/response"), json={"launch_token": done.launch_token, "content_items": []}
        )
    assert foreign.status_code == 400 and "launch_token" in foreign.json()["detail"]
    assert altered.status_code == 400
    assert missing.status_code == 422 and missing.json()["field"] == "launch_token"
    assert unauthenticated.status_code == 401
