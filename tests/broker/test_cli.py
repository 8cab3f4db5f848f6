"""The `broker` command as an operator runs it: JSON output per the contract, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from broker.cli import cli
from broker.services import Services
from tenants.services import CreatedTenant
from tests.broker.test_api import add_registrations
from tests.conftest import TEST_SECRET_KEY, RunningBroker, unique_slug


def cli_settings(broker: RunningBroker) -> dict[str, str]:
    """The settings of a `broker` command run beside the test broker, on its database."""
    return {
        "BROKER_DATABASE_URL": broker.settings.database_url,
        "BROKER_SECRET_KEY": TEST_SECRET_KEY,
        "BROKER_BASE_URL": broker.base_url,
        "BROKER_ALLOW_INSECURE_PLATFORMS": "1",
    }


def cli_environment(broker: RunningBroker) -> dict[str, str]:
    return {**os.environ, **cli_settings(broker)}


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(broker: RunningBroker, *args: str) -> CliResult:
    """`broker ARGS` run inside this process, as the entry point runs it, in a thread of its own (a command
    runs its own event loop). A Python process per command would cost a second or two of imports each,
    and that start-up is what `run_cli_process` tests."""
    runner = CliRunner(env=cli_settings(broker))
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(runner.invoke, cli, list(args), prog_name="broker").result(timeout=60)
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))  # what the command would have printed
    return CliResult(result.exit_code, result.stdout, stderr)


def run_cli_process(broker: RunningBroker, *args: str) -> CliResult:
    """`broker ARGS` as an operator runs it: a process of its own."""
    done = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "broker.cli", *args],
        env=cli_environment(broker),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


async def test_tenants_create_prints_the_contract_json_and_the_tenant_works(
    broker: RunningBroker, services: Services
) -> None:
    slug = unique_slug("cli")
    result = run_cli_process(
        broker, "tenants", "create", slug, "--name", "CLI Tool", "--webhook-url", "https://hooks.example/x", "--json"
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["slug"] == slug
    assert created["registration_url"] == f"{broker.base_url}/t/{slug}/lti/register"
    assert created["jwks_url"] == f"{broker.base_url}/t/{slug}/.well-known/jwks.json"
    assert created["webhook_secret"].startswith("whsec_")
    tenant = await services.tenants.authenticate(created["api_key"])
    assert tenant is not None and tenant.slug == slug
    assert created["api_key"] not in result.stderr

    listed = json.loads(run_cli(broker, "tenants", "list", "--json").stdout)
    assert slug in [item["slug"] for item in listed["items"]]
    assert all("api_key" not in item for item in listed["items"])


async def test_registrations_list_prints_the_api_items(broker: RunningBroker, services: Services) -> None:
    created = await services.tenants.create(unique_slug("cli"), "CLI Tool")
    ids = await add_registrations(services, created, 2)
    result = run_cli(broker, "registrations", "list", "--tenant", created.tenant.slug, "--json")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    assert [item["id"] for item in items] == ids
    assert items[0]["deployment_ids"] == ["dep-0"]


def test_bad_input_is_a_clear_error_not_a_traceback(broker: RunningBroker) -> None:
    result = run_cli(broker, "tenants", "create", "No Good", "--name", "X", "--json")
    assert result.returncode == 2
    assert "slug" in result.stderr and "Traceback" not in result.stderr
    unknown = run_cli(broker, "registrations", "list", "--tenant", "nobody-here", "--json")
    assert unknown.returncode == 2 and "nobody-here" in unknown.stderr


# The command tree as the README lists it: every command and its flags, for people and scripts that rely on them.
COMMANDS = {
    ("db", "upgrade"): set(),
    ("serve",): {"--host", "--port", "--workers"},
    ("demo",): set(),
    ("tenants", "create"): {"--name", "--tool-url", "--webhook-url", "--json"},
    ("tenants", "list"): {"--json"},
    ("tenants", "update"): {"--name", "--tool-url", "--tool-config", "--review", "--no-review"}
    | {"--activation-policy", "--accept-new-deployments", "--refuse-new-deployments", "--hostname", "--json"},
    ("registrations", "list"): {"--tenant", "--json"},
    ("registrations", "activate"): {"--json"},
    ("registrations", "disable"): {"--json"},
    ("registrations", "enable"): {"--json"},
    ("webhooks", "work"): set(),
    ("webhooks", "deliveries"): {"--tenant", "--status", "--json"},
    ("events", "replay"): {"--json"},
    ("keys", "rotate"): {"--json"},
    ("api-keys", "create"): {"--tenant", "--name", "--json"},
    ("api-keys", "list"): {"--tenant", "--json"},
    ("api-keys", "revoke"): {"--json"},
    ("operators", "create"): {"--json"},
}


def commands_of(group: click.Group, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], set[str]]:
    found: dict[tuple[str, ...], set[str]] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= commands_of(command, (*path, name))
        else:
            flags = {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}
            found[(*path, name)] = {flag for flag in flags if flag.startswith("--")}
    return found


def test_every_command_and_flag_is_there() -> None:
    assert commands_of(cli) == COMMANDS


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["tenants", "create", "acme"], "Missing option '--name'"),
        (["tenants", "craete"], "No such command 'craete'"),
        (["webhooks", "deliveries", "--tenant", "acme", "--status", "lost"], "'lost' is not one of"),
        (["serve", "--port", "eighty"], "'eighty' is not a valid integer"),
        (["tenants", "update", "acme", "--activation-policy", "later"], "'later' is not one of"),
        (["registrations", "list", "--json", "--colour"], "No such option '--colour'"),
    ],
)
def test_bad_usage_says_what_is_wrong_with_status_2(args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, args, prog_name="broker")
    assert result.exit_code == 2 and says in result.stderr and "Traceback" not in result.stderr


def test_help_works_whatever_the_environment_holds() -> None:
    result = CliRunner(env={"BROKER_SECRET_KEY": "short"}).invoke(cli, ["tenants", "list", "--help"])
    assert result.exit_code == 0 and "--json" in result.output


def test_a_bad_setting_or_an_unmigrated_database_is_an_error_line(tmp_path: Path) -> None:
    env = {"BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "BROKER_SECRET_KEY": "short"}
    result = CliRunner(env=env).invoke(cli, ["tenants", "list", "--json"])
    assert result.exit_code == 2 and result.stderr.startswith("error: BROKER_SECRET_KEY must be at least")
    env["BROKER_SECRET_KEY"] = TEST_SECRET_KEY
    result = CliRunner(env=env).invoke(cli, ["tenants", "list", "--json"])
    assert result.exit_code == 2 and "run `broker db upgrade` first" in result.stderr and not result.stdout


async def test_tenants_update_gives_a_tenant_its_own_host_or_says_why_not(
    broker: RunningBroker, tenant: CreatedTenant
) -> None:
    slug = tenant.tenant.slug
    refused = run_cli(broker, "tenants", "update", slug, "--hostname", "lti_acme.example.com")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "hostname" in refused.stderr and "underscore" in refused.stderr
    done = run_cli(broker, "tenants", "update", slug, "--hostname", f"LTI.{slug}.example.", "--json")
    assert done.returncode == 0, done.stderr
    item = json.loads(done.stdout)
    assert item["hostname"] == f"lti.{slug}.example"
    assert item["registration_url"] == f"http://lti.{slug}.example:{broker.base_url.rsplit(':', 1)[1]}/lti/register"
    removed = json.loads(run_cli(broker, "tenants", "update", slug, "--hostname", "", "--json").stdout)
    assert removed["hostname"] is None and removed["registration_url"] == broker.url(f"/t/{slug}/lti/register")


async def test_tenants_create_shows_the_urls_on_the_tenants_host(broker: RunningBroker) -> None:
    slug = unique_slug("cli")
    runner = CliRunner(env={**cli_settings(broker), "BROKER_TENANT_DOMAIN": "tools.example.com"})
    with ThreadPoolExecutor(1) as pool:
        args = ["tenants", "create", slug, "--name", "Hosted", "--json"]
        result = pool.submit(runner.invoke, cli, args, prog_name="broker").result(60)
    assert result.exit_code == 0, result.stderr
    item = json.loads(result.stdout)
    site = f"http://{slug}.tools.example.com:{broker.base_url.rsplit(':', 1)[1]}"
    assert (item["registration_url"], item["jwks_url"]) == (site + "/lti/register", site + "/.well-known/jwks.json")


@pytest.mark.parametrize(
    ("document", "says"),
    [(b'{"name": NaN}', "NaN is not a JSON value"), (b"[" * 100_000 + b"]" * 100_000, "nested more than")],
    ids=["nan", "deep"],
)
async def test_a_tool_config_file_that_is_not_plain_json_is_an_error_line(
    broker: RunningBroker, tenant: CreatedTenant, tmp_path: Path, document: bytes, says: str
) -> None:
    path = tmp_path / "tool.json"
    path.write_bytes(document)
    refused = run_cli(broker, "tenants", "update", tenant.tenant.slug, "--tool-config", str(path))
    assert refused.returncode == 2 and says in refused.stderr and "Traceback" not in refused.stderr
