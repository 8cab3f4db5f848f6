"""The operator's commands for webhooks, events, keys, registration status and API keys, with --json."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import pytest

from broker.services import Services
from tests.broker.test_api import add_registrations
from tests.broker.test_cli import cli_environment, run_cli
from tests.broker.webhooks.support import add_event, hooked_tenant
from tests.conftest import RunningBroker, unique_slug
from tests.emulators.tool import ToolEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")


def cli_json(broker: RunningBroker, *args: str) -> Any:
    result = run_cli(broker, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_registration_status_commands(broker: RunningBroker, services: Services) -> None:
    created = await services.tenants.create(unique_slug("cli"), "CLI Tool")
    (registration_id,) = await add_registrations(services, created, 1)
    assert cli_json(broker, "registrations", "disable", registration_id)["status"] == "disabled"
    refused = run_cli(broker, "registrations", "activate", registration_id, "--json")
    assert refused.returncode == 2 and "enable it instead" in refused.stderr and "Traceback" not in refused.stderr
    assert cli_json(broker, "registrations", "enable", registration_id)["status"] == "active"
    missing = run_cli(broker, "registrations", "enable", "reg_nothing", "--json")
    assert missing.returncode == 2 and "reg_nothing" in missing.stderr


async def test_api_key_commands(broker: RunningBroker, services: Services) -> None:
    created = await services.tenants.create(unique_slug("cli"), "CLI Tool")
    slug = created.tenant.slug
    new = cli_json(broker, "api-keys", "create", "--tenant", slug, "--name", "ci")
    assert new["key"].startswith(new["prefix"]) and (await services.tenants.authenticate(new["key"])) is not None
    listed = cli_json(broker, "api-keys", "list", "--tenant", slug)["items"]
    assert [item["name"] for item in listed] == ["default", "ci"] and new["key"] not in json.dumps(listed)
    assert cli_json(broker, "api-keys", "revoke", new["id"])["revoked_at"]
    assert await services.tenants.authenticate(new["key"]) is None
    last = run_cli(broker, "api-keys", "revoke", listed[0]["id"], "--json")
    assert last.returncode == 2 and "last live API key" in last.stderr


async def test_keys_rotate_publishes_the_next_key(broker: RunningBroker, services: Services) -> None:
    created = await services.tenants.create(unique_slug("cli"), "CLI Tool")
    rotation = cli_json(broker, "keys", "rotate", created.tenant.slug)
    assert rotation["status"] == "next" and rotation["started"] and rotation["kid"] != created.kid
    assert rotation["activates_at"]


async def test_deliveries_and_replay_commands(broker: RunningBroker, services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            event_id = await add_event(services, tenant.tenant.id)
            replay = cli_json(broker, "events", "replay", event_id)
            assert replay["event_id"] == event_id and replay["trigger"] == "replay"
            listed = cli_json(broker, "webhooks", "deliveries", "--tenant", tenant.tenant.slug, "--status", "pending")
            assert [item["event_id"] for item in listed["items"]] == [event_id, event_id]
    unknown = run_cli(broker, "events", "replay", "msg_nothing", "--json")
    assert unknown.returncode == 2 and "msg_nothing" in unknown.stderr


async def test_webhooks_work_delivers_and_stops_cleanly_on_sigterm(broker: RunningBroker, services: Services) -> None:
    with ToolEmulator.running() as tool:
        async with hooked_tenant(services, tool) as tenant:
            event_id = await add_event(services, tenant.tenant.id)
            worker = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "broker.cli", "webhooks", "work", env=cli_environment(broker),
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                for _ in range(400):
                    if tool.ids():
                        break
                    await asyncio.sleep(0.05)
            finally:
                worker.send_signal(signal.SIGTERM)
                _, stderr = await asyncio.wait_for(worker.communicate(), timeout=20)
    assert tool.ids() == [event_id]
    assert worker.returncode == 0 and b"Traceback" not in stderr
