"""The mails accounts receive, with their single-use links (paths of the admin UI, which serves them)."""

from __future__ import annotations

from urllib.parse import urlencode

from broker.mail import Mail
from tenants.accounts.links import LIFETIMES, Purpose

VERIFY_EMAIL_PATH = "/verify-email"
RESET_PASSWORD_PATH = "/reset-password/confirm"  # noqa: S105 - a path
INVITATION_PATH = "/invitations/accept"
_PATHS = {
    Purpose.VERIFY_EMAIL: VERIFY_EMAIL_PATH,
    Purpose.RESET_PASSWORD: RESET_PASSWORD_PATH,
    Purpose.INVITATION: INVITATION_PATH,
}


def link_url(base_url: str, purpose: Purpose, token: str) -> str:
    # The token rides in the query: access logs drop queries and pages send no Referer, so it stays out of both.
    return f"{base_url}{_PATHS[purpose]}?{urlencode({'token': token})}"


def _hours(purpose: Purpose) -> str:
    hours = int(LIFETIMES[purpose].total_seconds() // 3600)
    return f"{hours} hour" + ("s" if hours != 1 else "")


def verification_mail(base_url: str, email: str, token: str, tenant_name: str | None) -> Mail:
    what = f"to run {tenant_name} on lti-broker" if tenant_name else "for lti-broker"
    return Mail(
        to=email,
        subject="Confirm your e-mail address for lti-broker",
        body=(
            f"Someone (we hope you) signed up with this address {what}.\n\n"
            f"Confirm it by opening this link within {_hours(Purpose.VERIFY_EMAIL)}:\n\n"
            f"{link_url(base_url, Purpose.VERIFY_EMAIL, token)}\n\n"
            "If it was not you, ignore this mail: nothing happens without the confirmation.\n"
        ),
    )


def reset_mail(base_url: str, email: str, token: str) -> Mail:
    return Mail(
        to=email,
        subject="Reset your lti-broker password",
        body=(
            "Someone asked to reset the password of the lti-broker account with this address.\n\n"
            f"Choose a new password by opening this link within {_hours(Purpose.RESET_PASSWORD)} (it works once):\n\n"
            f"{link_url(base_url, Purpose.RESET_PASSWORD, token)}\n\n"
            "If it was not you, ignore this mail: your password stays as it is.\n"
        ),
    )


def invitation_mail(base_url: str, email: str, token: str, tenant_name: str, inviter: str, role: str) -> Mail:
    return Mail(
        to=email,
        subject=f"You are invited to run {tenant_name} on lti-broker",
        body=(
            f"{inviter} invited you to join {tenant_name} on lti-broker as {role}.\n\n"
            f"Accept within {_hours(Purpose.INVITATION)} by opening this link (it works once):\n\n"
            f"{link_url(base_url, Purpose.INVITATION, token)}\n\n"
            "If you do not know why you got this, ignore it.\n"
        ),
    )
