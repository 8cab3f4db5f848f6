"""Standard Webhooks signatures, checked by the reference library a tool vendor would use, and the retry rule."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from broker.webhooks.signer import signed_headers
from broker.webhooks.worker import NextStep, Response, next_step
from tenants.services import generate_webhook_secret

BODY = json.dumps({"type": "registration.created", "timestamp": "2026-01-01T00:00:00Z", "data": {}}).encode()


def test_the_standardwebhooks_library_verifies_our_signature() -> None:
    secret = generate_webhook_secret()
    headers = signed_headers("msg_1", int(time.time()), BODY, [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_changed_body_id_or_secret_does_not_verify() -> None:
    secret = generate_webhook_secret()
    headers = signed_headers("msg_1", int(time.time()), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_webhook_secret()).verify(BODY, headers)


def test_during_a_secret_rotation_both_secrets_sign_and_either_verifies() -> None:
    old, new = generate_webhook_secret(), generate_webhook_secret()
    headers = signed_headers("msg_1", int(time.time()), BODY, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(BODY, headers) and Webhook(new).verify(BODY, headers)


def test_nothing_is_sent_unsigned() -> None:
    with pytest.raises(ValueError):
        signed_headers("msg_1", 0, BODY, [])


DELAYS = (5, 300, 1800)


@pytest.mark.parametrize("status", [200, 202, 204, 299])
def test_any_2xx_ends_the_delivery(status: int) -> None:
    assert next_step(Response(status_code=status), 1, DELAYS, 1.0) == NextStep("succeeded")


@pytest.mark.parametrize(
    ("response", "attempt", "retry_in"),
    [
        (Response(status_code=500), 1, 5),
        (Response(status_code=404), 2, 300),
        (Response(status_code=301), 3, 1800),
        (Response(error="timed out waiting for the server"), 1, 5),
        (Response(error="could not connect"), 2, 300),
    ],
)
def test_other_answers_and_errors_are_retried_after_the_configured_delays(
    response: Response, attempt: int, retry_in: int
) -> None:
    assert next_step(response, attempt, DELAYS, 1.0) == NextStep("retrying", retry_in=retry_in)


def test_jitter_scales_the_delay() -> None:
    assert next_step(Response(status_code=500), 2, DELAYS, 1.1).retry_in == pytest.approx(330)


def test_after_the_last_delay_the_delivery_fails() -> None:
    step = next_step(Response(status_code=500), len(DELAYS) + 1, DELAYS, 1.0)
    assert step.outcome == "failed" and step.reason and "4 attempts" in step.reason


def test_410_gone_stops_at_once() -> None:
    step = next_step(Response(status_code=410), 1, DELAYS, 1.0)
    assert step.outcome == "failed" and step.reason and "410" in step.reason
