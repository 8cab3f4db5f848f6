"""The assertion-theft attack, end to end: anyone can run a registration against a tenant's public registration
URL with a platform they control. Theirs looks like Brightspace, publishes the victim LMS's token URL as its
`authorization_server` and answers the registration with the victim registration's `client_id` (the `aud` of
every launch the victim LMS sends). The confirmation page's Verify button then makes the broker sign a client
assertion and post it to the attacker's token endpoint. Replayed at the victim's strict token endpoint, that
assertion must be refused: it is signed with the key bound to the attacker's platform, which the victim LMS
never trusted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import httpx

from broker.services import Services
from tests.conftest import RunningBroker
from tests.e2e.flow import forms_of, register
from tests.e2e.launching import registered
from tests.emulators import BrightspaceEmulator, GenericEmulator
from tests.emulators.launch import unverified_part
from tests.emulators.platform import RegistrationToken


class HijackingPlatform(BrightspaceEmulator):
    """A Brightspace-like platform whose registration answer carries a client_id of the attacker's choice."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.claimed_client_id = ""

    def accept_registration(self, payload: dict[str, Any], token: RegistrationToken | None) -> dict[str, Any]:
        stored = super().accept_registration(payload, token)
        stored["client_id"] = self.claimed_client_id
        return stored


async def test_a_stolen_verify_assertion_is_refused_by_the_victims_token_endpoint(
    http: httpx.AsyncClient, broker: RunningBroker, services: Services
) -> None:
    async with registered(http, broker, services, GenericEmulator) as victim:
        victim_token_url = victim.registration["token_endpoint"]
        with HijackingPlatform.running(
            claimed_client_id=victim.registration["client_id"],
            config_patch={"authorization_server": victim_token_url},
        ) as attacker:
            outcome = await register(http, broker.url(f"/t/{victim.slug}/lti/register"), attacker)
            (verify,) = forms_of(outcome.last_page.text)
            await http.post(urljoin(str(outcome.last_page.url), verify.action), data=verify.fields)
            (stolen,) = attacker.token_requests
        claims = unverified_part(stolen["form"]["client_assertion"], 1)
        # The attack is set up as described: the assertion names the victim's client and token URL...
        assert claims["sub"] == claims["iss"] == victim.registration["client_id"]
        assert claims["aud"] == victim_token_url
        replayed = await http.post(victim_token_url, data=stolen["form"])
        # ...and the victim LMS still grants its own registration's requests.
        own = await http.post(
            broker.url(f"/api/v1/registrations/{victim.registration['id']}/verify"), headers=victim.api_headers
        )
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["error"] == "invalid_client"
    assert own.status_code == 200, own.text
    # One token in all at the victim LMS: the broker's own verification; none for the replay.
    assert len(victim.platform.issued_access_tokens) == 1
