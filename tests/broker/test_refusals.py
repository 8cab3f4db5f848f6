"""Refusals: one exception type, shown as problem details JSON to API clients and as a page to people."""

from __future__ import annotations

import json

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.refusals import FALLBACK_NEXT_STEP, Refusal, problem_response, refusal_page
from broker.settings import Settings
from tests.conftest import TEST_SECRET_KEY

# A request that did not go through the broker's middleware, so has no request id.
REQUEST = Request({"type": "http", "headers": []})


class Gone(Refusal):
    status_code = 410
    title = "This thing is gone"
    next_step = "Ask for a new one."


def test_problem_json_has_the_standard_members_and_only_the_optional_ones_that_are_set() -> None:
    refusal = Refusal("The body is not JSON.", title="Bad body", headers={"Retry-After": "3"})
    response = problem_response(refusal, REQUEST)
    assert response.status_code == 400
    assert response.media_type == "application/problem+json"
    assert response.headers["retry-after"] == "3"
    assert json.loads(response.body) == {
        "type": "about:blank", "title": "Bad body", "status": 400, "detail": "The body is not JSON.",
    }


def test_problem_json_carries_field_next_step_and_reference() -> None:
    body = json.loads(problem_response(Gone("It expired.", field="state", reference="att_1"), REQUEST).body)
    assert body == {
        "type": "about:blank", "title": "This thing is gone", "status": 410, "detail": "It expired.",
        "field": "state", "next_step": "Ask for a new one.", "reference": "att_1",
    }


def test_given_values_override_the_class_defaults_for_one_refusal() -> None:
    refusal = Gone("It expired.", status_code=409, title="Taken", next_step="Wait.")
    assert (refusal.status_code, refusal.title, refusal.next_step) == (409, "Taken", "Wait.")
    assert (Gone.status_code, Gone.title, Gone.next_step) == (410, "This thing is gone", "Ask for a new one.")


async def _page(refusal: Refusal, *, framable: bool = False) -> httpx.Response:
    async def route(request: Request) -> Response:
        return refusal_page(request, refusal, framable=framable)

    app = Starlette(routes=[Route("/", route)])
    app.state.settings = Settings(secret_key=TEST_SECRET_KEY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://broker.test") as client:
        return await client.get("/")


async def test_the_page_shows_title_detail_field_next_step_and_reference_escaped() -> None:
    response = await _page(Gone("<b>It</b> expired.", field="state", reference="att_1"))
    assert response.status_code == 410
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    for text in ("This thing is gone", "&lt;b&gt;It&lt;/b&gt; expired.", "state", "Ask for a new one.", "att_1"):
        assert text in response.text
    assert "<b>It</b>" not in response.text


async def test_a_page_always_says_what_to_do_next_and_may_be_framed_by_an_lms() -> None:
    response = await _page(Refusal("Nope."), framable=True)
    assert FALLBACK_NEXT_STEP.replace("'", "&#39;") in response.text
    assert "frame-ancestors https:" in response.headers["content-security-policy"]
