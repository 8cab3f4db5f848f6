"""`broker operators create EMAIL` reads the password from standard input and makes an operator account."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from broker.services import Services
from tenants.accounts.service import Kind
from tests.conftest import TEST_SECRET_KEY, RunningBroker


def create_operator(broker: RunningBroker, email: str, stdin: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "BROKER_DATABASE_URL": broker.settings.database_url,
        "BROKER_SECRET_KEY": TEST_SECRET_KEY,
        "BROKER_BASE_URL": broker.base_url,
    }
    return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "broker.cli", "operators", "create", email, "--json"],
        env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_an_operator_made_on_the_command_line_signs_in(broker: RunningBroker, services: Services) -> None:
    email = f"ops-{secrets.token_hex(4)}@example.com"
    password = "operators keep the lights on"
    result = create_operator(broker, email, password + "\n")
    assert result.returncode == 0, result.stderr
    item = json.loads(result.stdout)
    assert item["email"] == email and item["sign_in_url"] == broker.url("/admin/login")
    assert password not in result.stdout + result.stderr
    account = await services.accounts.sign_in(Kind.OPERATOR, email, password, None)
    assert account.id == item["id"]

    again = create_operator(broker, email, password + "\n")
    assert again.returncode == 2 and "already has an operator account" in again.stderr


def test_a_weak_password_is_refused_with_the_reason(broker: RunningBroker) -> None:
    result = create_operator(broker, f"ops-{secrets.token_hex(4)}@example.com", "short\n")
    assert result.returncode == 2
    assert "password must be at least 12 characters" in result.stderr and "Traceback" not in result.stderr
