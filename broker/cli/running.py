"""Setting the broker up and running it: `db upgrade`, `serve`, `demo`."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import click

from broker.cli.base import settings, with_services
from broker.services import Services
from tenants.hosts import site_of

GRACEFUL_SHUTDOWN_SECONDS = 20
WORKER_START_SECONDS = 60


@click.group(help="database schema")
def db() -> None:
    pass


@db.command("upgrade", help="apply all migrations")
def upgrade_database() -> None:
    from broker.migrate import upgrade  # Alembic is slow to import and only this command needs it

    upgrade(settings().database_url)
    click.echo("database is up to date")


@click.command(help="run the HTTP server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=1, show_default=True,
    help="processes serving this port; each also runs the background loop unless BROKER_RUN_WORKER=0",
)  # fmt: skip
def serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from broker.logs import log_config

    found = settings()  # a setting error is said once, here, not by every worker
    # On SIGTERM uvicorn stops taking connections and lets the requests in flight finish (every page answers
    # within 15 s), then the background loop ends its pass, so no delivery is recorded twice.
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "proxy_headers": True,
        "log_config": log_config(log_format=found.log_format),
        # The broker writes each request's line itself (broker/access_log.py), with its id and context.
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if workers == 1:
        from broker.app import create_app

        uvicorn.run(create_app(found), **options)
        return
    # Each worker counts in files of this directory, and the one answering /metrics adds them all up.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="broker-metrics-"))
    # A worker imports the whole broker before it answers its supervisor's first ping: on a busy host that takes
    # longer than uvicorn's 5 s default, and a worker killed for it only starts over.
    uvicorn.run(
        "broker.app:create_app", factory=True, workers=workers, timeout_worker_healthcheck=WORKER_START_SECONDS,
        **options,
    )  # fmt: skip


@click.command(help="seed the demo tenant and print its URLs")
@with_services
async def demo(services: Services) -> None:
    """Seeds the demo tenant once and prints where an LMS admin should point their LMS."""
    from broker.demo_tool import DEMO_SLUG, demo_tool_url

    base = services.settings
    tenant = await services.tenants.get_by_slug(DEMO_SLUG)
    tool_url = demo_tool_url(base.base_url)
    if tenant is None:
        created = await services.tenants.create(DEMO_SLUG, "Demo Tool", tool_url=tool_url)
        tenant = created.tenant
        click.echo(f"Created the demo tenant. Its API key (shown once): {created.api_key}")
    elif tenant.tool_url is None:
        tenant = await services.tenants.update(tenant.id, {"tool_url": tool_url})
    site = site_of(base, tenant)
    click.echo(f"Registration URL: {site.registration_url}")
    click.echo(f"JWKS URL:         {site.jwks_url}")
    click.echo(f"Launches go to:   {tenant.tool_url}")
    click.echo(f"Try it in a browser, without an LMS: {base.base_url}/try")
