"""Each request leaves one log line, and its request id is on the line, in X-Request-Id, on its error page and in
its problem JSON, so what a person reports can be found in the logs."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from broker.app import create_app
from tenants.services import CreatedTenant
from tests.conftest import TEST_SECRET_KEY, RunningBroker, make_settings, unique_slug
from tests.log_capture import json_lines

GENERATED_ID = re.compile(r"[0-9a-f]{16}")


def page_request_id(html: str) -> str:
    found = re.search(r'<code id="request-id">([^<]*)</code>', html)
    assert found, "the page shows its request id"
    return found.group(1)


async def test_an_error_page_and_its_log_line_show_the_same_request_id(
    http: httpx.AsyncClient, broker: RunningBroker
) -> None:
    slug = unique_slug("nobody")
    path = f"/t/{slug}/lti/register"
    with json_lines() as lines:
        response = await http.get(broker.url(path + "?openid_configuration=https://lms.example/c"))
        line = lines.request(path, 404)
    assert response.status_code == 404
    request_id = response.headers["x-request-id"]
    assert GENERATED_ID.fullmatch(request_id)
    assert page_request_id(response.text) == request_id
    assert line["request_id"] == request_id and line["method"] == "GET" and line["tenant"] == slug
    assert line["client"] == "127.0.0.1" and line["duration_ms"] >= 0 and line["level"] == "INFO"
    assert "openid_configuration" not in str(line), "the query is not logged"


async def test_a_problem_and_its_log_line_show_the_same_request_id(
    http: httpx.AsyncClient, broker: RunningBroker, tenant: CreatedTenant
) -> None:
    path = "/api/v1/registrations"
    with json_lines() as lines:
        refused = await http.get(broker.url(path))
        refused_line = lines.request(path, 401)
        listed = await http.get(broker.url(path), headers={"Authorization": f"Bearer {tenant.api_key}"})
        listed_line = lines.request(path, 200)
    assert refused.status_code == 401
    assert refused.json()["request_id"] == refused.headers["x-request-id"] == refused_line["request_id"]
    assert "tenant" not in refused_line
    assert listed.headers["x-request-id"] == listed_line["request_id"] != refused_line["request_id"]
    assert listed_line["tenant"] == tenant.tenant.slug, "the API key's tenant"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("req-2f1c9a7e.b_1", True),
        ("7d0c4c9e-5a7b-4d43-9c3e-0b2f1f1c8a11", True),
        ('"><script>alert(1)</script>', False),
        ("x" * 65, False),
        ("short", False),
        ("id with spaces and\nnew line", False),
    ],
)
async def test_a_request_id_sent_along_is_kept_only_when_short_and_plain(
    http: httpx.AsyncClient, broker: RunningBroker, given: str, kept: bool
) -> None:
    path = f"/t/{unique_slug('nobody')}/lti/login"
    with json_lines() as lines:
        response = await http.get(broker.url(path), headers={"X-Request-Id": given.replace("\n", " ")})
        line = lines.request(path, response.status_code)
    request_id = response.headers["x-request-id"]
    assert (request_id == given) is kept
    assert kept or GENERATED_ID.fullmatch(request_id)
    assert line["request_id"] == request_id
    assert "<script>" not in response.text


async def test_a_server_error_page_shows_the_request_id_of_the_logged_error(tmp_path: object) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path}/db.sqlite", "http://broker.test"))

    async def broken(request: Request) -> None:
        raise RuntimeError("the disk is on fire")

    app.router.routes.append(Route("/broken", broken))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
        with json_lines() as lines:
            response = await client.get("/broken", headers={"X-Request-Id": "support-case-0042"})
            request_line = lines.request("/broken", 500)
            (error,) = [line for line in lines.all() if line["level"] == "ERROR"]
    assert response.status_code == 500 and "Something went wrong" in response.text
    assert response.headers["x-request-id"] == page_request_id(response.text) == "support-case-0042"
    assert error["request_id"] == request_line["request_id"] == "support-case-0042"
    assert "RuntimeError: the disk is on fire" in error["exception"]
    assert "the disk is on fire" not in response.text
    assert TEST_SECRET_KEY not in response.text
