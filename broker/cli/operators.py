"""Operator accounts for the operator console (`/admin/`): `operators create EMAIL`."""

from __future__ import annotations

import sys

import click

from broker.cli.base import Failure, json_option, show, with_services
from broker.services import Services
from tenants.accounts.service import AccountError


@click.group(help="operator accounts (the /admin/ console)")
def operators() -> None:
    pass


def _new_password() -> str:
    """From a prompt (asked twice) at a terminal; otherwise the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@operators.command("create", help="make an operator account; its password from a prompt or stdin")
@click.argument("email")
@json_option
@with_services
async def create_operator(services: Services, email: str, as_json: bool) -> None:
    try:
        account = await services.accounts.create_operator(email, _new_password())
    except AccountError as error:
        raise Failure("; ".join(f"{field} {reason}" for field, reason in error.errors.items())) from error
    sign_in_url = f"{services.settings.base_url}/admin/login"
    show({"id": account.id, "email": account.email, "sign_in_url": sign_in_url}, as_json)
