"""A registration's log lines, as an operator reads them: JSON objects, each request's with the tenant and the
registration attempt it belongs to, and the 409 page of a form posted twice naming the line to look for."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import httpx

from broker.services import Services
from tenants.services import CreatedTenant
from tests.conftest import RunningBroker
from tests.e2e.flow import forms_of, register
from tests.e2e.test_registration import attempts_of, registration_url
from tests.emulators import GenericEmulator
from tests.log_capture import json_lines


async def test_every_request_of_a_registration_names_its_tenant_and_attempt(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services, tenant: CreatedTenant
) -> None:
    path = f"/t/{tenant.tenant.slug}/lti/register"
    with GenericEmulator.running() as platform, json_lines() as lines:
        outcome = await register(http, registration_url(broker, tenant), platform)
        assert outcome.last_page.status_code == 200
        form = forms_of(outcome.first_page.text)[0]
        again = await http.post(urljoin(str(outcome.first_page.url), form.action), data=form.fields)
        refused = lines.request(path, 409)
        began, completed, _ = lines.requests(path)
    (attempt,) = await attempts_of(services, tenant)
    assert [began["method"], completed["method"], refused["method"]] == ["GET", "POST", "POST"]
    for line in (began, completed, refused):
        assert line["tenant"] == tenant.tenant.slug and line["attempt_id"] == attempt.id
    assert again.status_code == 409 and again.headers["x-request-id"] == refused["request_id"]
    assert re.search(rf'<code id="request-id">{refused["request_id"]}</code>', again.text)
    assert f'<code id="reference">{attempt.id}</code>' in again.text
    # Lines written inside a request carry its context as well as its own line does.
    inside = [line for line in lines.all() if line.get("request_id") == completed["request_id"]]
    assert all(line["attempt_id"] == attempt.id for line in inside)
