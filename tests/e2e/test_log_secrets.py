"""No secret reaches a log line, from the broker or any library it uses, even with every logger at DEBUG, in
either log format.

A full run (registrations whose platforms put the registration token in a query, a launch, a service-token
grant, API calls, a webhook delivery) goes through a broker served as `broker serve` serves it, with the
broker's own logging set-up; every line any logger writes is captured, then searched for each secret the run
created. In JSON, every line must also be one object, the requests' lines naming their tenant and attempt.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest
import uvicorn

from broker.app import create_app
from broker.logs import configure_logging
from broker.services import Services
from tests.broker.api.support import ApiClient
from tests.broker.webhooks.support import drain, make_worker
from tests.conftest import TEST_SECRET_KEY, RunningBroker, make_settings, unique_slug
from tests.e2e.flow import posts_close_message, register
from tests.e2e.launching import launch, relay_to_tool
from tests.emulators import BlackboardEmulator, CanvasEmulator, PlatformEmulator
from tests.emulators.server import base_url_of, bind_loopback
from tests.emulators.tool import ToolEmulator

START_TIMEOUT_S = 10.0


@contextmanager
def broker_with_access_log(database_url: str) -> Iterator[RunningBroker]:
    """The broker served as `broker serve` does it (its own request lines, uvicorn's off), leaving logging as
    it finds it."""
    sock = bind_loopback()
    settings = make_settings(database_url, base_url_of(sock))
    config = uvicorn.Config(
        create_app(settings), log_config=None, log_level=None, access_log=False, lifespan="on", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the broker did not start"
    try:
        yield RunningBroker(settings.base_url, settings)
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
        sock.close()


@contextmanager
def every_log_line(log_format: str) -> Iterator[io.StringIO]:
    """The broker's logging set-up with every handler writing here and every logger (any library's) at DEBUG."""
    manager = logging.Logger.manager
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    lines = io.StringIO()
    try:
        root.handlers.clear()  # as in a fresh `broker` process, where nothing else has set logging up
        configure_logging(log_format=log_format)
        loggers = [root, *(logger for logger in manager.loggerDict.values() if isinstance(logger, logging.Logger))]
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler):
                    handler.setStream(lines)
        yield lines
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, (level, handlers, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled


def registration_tokens(*platforms: PlatformEmulator) -> dict[str, str]:
    return {
        f"{type(platform).__name__} registration token {number}": value
        for platform in platforms
        for number, value in enumerate(platform.tokens)
    }


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_secret_reaches_a_log_line(
    http: httpx.AsyncClient, database_url: str, services: Services, log_format: str
) -> None:
    secrets: dict[str, str] = {"BROKER_SECRET_KEY": TEST_SECRET_KEY}
    with (
        ToolEmulator.running() as tool,
        CanvasEmulator.running() as canvas,
        BlackboardEmulator.running() as blackboard,
        broker_with_access_log(database_url) as broker,
        every_log_line(log_format) as lines,
    ):
        tenant = await services.tenants.create(
            unique_slug("logs"), "Log Check", tool_url=tool.launch_url, webhook_url=tool.url
        )
        slug = tenant.tenant.slug
        tool.secret = tenant.webhook_secret
        tool.launch_issuer = broker.url(f"/t/{slug}")
        secrets |= {"API key": tenant.api_key, "webhook secret": str(tenant.webhook_secret)}
        keys = await services.key_ring.get(slug)
        assert keys is not None and keys.signing_key is not None
        private = keys.signing_key.as_dict(private=True)
        secrets |= {f"private key {name}": private[name] for name in ("d", "p", "q")}
        pem = keys.signing_key.as_pem(private=True).decode()
        secrets["private key PEM"] = pem.splitlines()[5]

        # Canvas puts the registration token in the configuration URL's query, Blackboard in the registration
        # endpoint's (as registrationToken); both reach the broker in its registration URL's query.
        for platform in (canvas, blackboard):
            outcome = await register(http, broker.url(f"/t/{slug}/lti/register"), platform)
            assert outcome.last_page.status_code == 200 and posts_close_message(outcome.last_page.text)
        secrets |= registration_tokens(canvas, blackboard)

        api = ApiClient(http, broker, tenant.api_key)
        items = (await api.json("GET", "/api/v1/registrations"))["items"]
        (registration,) = [item for item in items if item["issuer"] == canvas.issuer]

        launched = await launch(http, canvas)
        assert (await relay_to_tool(http, launched)).status_code == 200
        assert launched.platform_post is not None
        secrets |= {"id_token": launched.platform_post.fields["id_token"], "launch_token": launched.launch_token}

        scopes = [scope for scope in registration["scopes_granted"] if scope != "openid"]
        grant = await api.json("POST", f"/api/v1/registrations/{registration['id']}/token", json={"scopes": scopes})
        await api.json("POST", f"/api/v1/registrations/{registration['id']}/verify")
        created_key = await api.json("POST", "/api/v1/api-keys", status=201, json={"name": "second"})
        rotated = await api.json("POST", "/api/v1/webhook/rotate-secret")
        tool.secret = rotated["secret"]
        secrets |= {"second API key": created_key["key"], "rotated webhook secret": rotated["secret"]}
        await api.json("GET", "/api/v1/events")
        await drain(make_worker(services))
        assert tool.received and not tool.rejected, "webhooks were delivered and verified"

        for number, request in enumerate(canvas.token_requests):
            assertion = request["form"]["client_assertion"]
            secrets |= {f"client assertion {number}": assertion, f"its signature {number}": assertion.split(".")[2]}
        for number, issued in enumerate(canvas.issued_access_tokens):
            secrets[f"access token {number}"] = issued["access_token"]
        assert grant["access_token"] in secrets.values()

    text = lines.getvalue()
    assert "HTTP Request" in text and "/lti/register" in text and "sqlalchemy.engine" in text, (
        "the capture holds library, request and database lines at DEBUG"
    )
    if log_format == "json":
        check_json_lines(text, slug)
    leaked = sorted(name for name, value in secrets.items() if value in text or quote(value, safe="") in text)
    assert not leaked, f"secrets in the log: {leaked}"


def check_json_lines(text: str, slug: str) -> None:
    """Every line one JSON object; the registrations' requests name their tenant and attempt."""
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(line, dict) and {"time", "level", "logger", "message"} <= line.keys() for line in lines)
    registering = [line for line in lines if line.get("path") == f"/t/{slug}/lti/register"]
    assert registering and all(line["tenant"] == slug and line["attempt_id"] for line in registering)
    assert all(line["request_id"] for line in lines if line["logger"] == "broker.access")
    deliveries = [line for line in lines if line["logger"] == "broker.webhooks" and "outcome" in line]
    # The drain also delivers what other tests left due in the shared database: each line names its own tenant.
    assert [line for line in deliveries if line["tenant"] == slug]
    for line in deliveries:  # each delivery attempt's line names its tenant, the attempt, the delivery and the event
        assert line["tenant"] and line["attempt_id"].startswith("dat_") and line["delivery_id"] and line["event_id"]
