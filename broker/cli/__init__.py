"""The `broker` command: database, server, tenants, registrations, webhooks (output formats are a contract).

Each group lives in the module of its subject; `broker.cli.base` holds what they share and says how to write
a command. A new group is added to `cli` below.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.cli.base import cli
from broker.cli.operators import operators
from broker.cli.registrations import registrations
from broker.cli.running import db, demo, serve
from broker.cli.tenants import api_keys, keys, tenants
from broker.cli.webhooks import events, webhooks
from broker.logs import configure_logging

for _command in (db, serve, demo, tenants, registrations, webhooks, events, keys, api_keys, operators):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and exits with its status: 0, 2 for a usage error or a refusal, 1 if interrupted."""
    configure_logging()
    cli.main(args=list(argv) if argv is not None else None, prog_name="broker")
    return 0  # not reached: click exits with the command's status
