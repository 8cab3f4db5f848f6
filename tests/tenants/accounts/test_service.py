"""The account service against a real database and a real SMTP server: sign-up, verification, sign-in and
lockout, password reset and change, invitations, operators."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from broker.database import utcnow
from broker.limits.store import DatabaseLimitStore
from broker.services import Services
from tenants.accounts.models import Account, AccountLink, AuditEvent, Membership
from tenants.accounts.service import (
    FAILED_SIGN_INS_PER_ADDRESS,
    MAX_FAILED_SIGN_INS,
    AccountError,
    AccountService,
    Kind,
    LinkRefused,
    NotAllowed,
    Role,
    SignedUp,
    SignInRefused,
)
from tests.conftest import unique_slug
from tests.smtp import Mailbox, link_in

PASSWORD = "correct horse battery staple"


def unique_email(name: str = "ada") -> str:
    return f"{name}-{secrets.token_hex(4)}@example.com"


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def sign_up(accounts: AccountService, email: str | None = None, slug: str | None = None) -> SignedUp:
    return await accounts.sign_up(
        email=email or unique_email(),
        password=PASSWORD,
        slug=slug or unique_slug("acme"),
        name="Acme Quiz",
        client_address="127.0.0.1",
    )


async def verified_owner(accounts: AccountService, mailbox: Mailbox) -> SignedUp:
    signed_up = await sign_up(accounts)
    mail = await mailbox.async_wait_for(signed_up.account.email, "Confirm")
    await accounts.verify_email(token_of(link_in(mail, "/verify-email")), None)
    return signed_up


async def test_sign_up_makes_the_tenant_and_its_owner_who_signs_in_once_verified(
    accounts: AccountService, mailbox: Mailbox, services: Services
) -> None:
    email = unique_email()
    signed_up = await sign_up(accounts, email=email.upper())
    assert signed_up.account.email == email and signed_up.mail_error is None
    assert signed_up.created.api_key.startswith("lbk_")
    memberships = await accounts.memberships(signed_up.account.id)
    assert [(m.tenant.slug, m.role) for m in memberships] == [(signed_up.created.tenant.slug, Role.OWNER)]

    with pytest.raises(SignInRefused) as refused:
        await accounts.sign_in(Kind.VENDOR, email, PASSWORD, "127.0.0.1")
    assert refused.value.reason == "unverified" and email in str(refused.value)

    mail = await mailbox.async_wait_for(email, "Confirm")
    assert "Acme Quiz" in mail.get_content()
    link = link_in(mail, "/verify-email")
    assert link.startswith(services.settings.base_url + "/verify-email?token=")
    await accounts.verify_email(token_of(link), "127.0.0.1")
    account = await accounts.sign_in(Kind.VENDOR, f"  {email.upper()} ", PASSWORD, "127.0.0.1")
    assert account.id == signed_up.account.id

    with pytest.raises(LinkRefused, match="already been used"):
        await accounts.verify_email(token_of(link), None)
    async with services.database.session() as session:
        stored = (await session.scalars(select(AccountLink).where(AccountLink.account_id == account.id))).all()
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.account_id == account.id))).all()
    assert stored and all(token_of(link) not in (row.digest, row.id) for row in stored)
    assert {"tenant.signed_up", "account.email_verified", "account.signed_in"} <= set(actions)


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("email", {"email": "not-an-address"}),
        ("password", {"password": "short"}),
        ("password", {"password": "x" * 257}),
        ("password", {"password": "aaaaaaaaaaaaaaaa"}),
        ("password", {"password": "password1234"}),
        ("slug", {"slug": "admin"}),
        ("slug", {"slug": "console"}),
        ("slug", {"slug": "api"}),
        ("slug", {"slug": "t"}),
        ("slug", {"slug": "Bad Slug!"}),
        ("name", {"name": " "}),
    ],
)
async def test_bad_sign_up_names_the_field_and_writes_nothing(
    accounts: AccountService, services: Services, field: str, values: dict[str, str]
) -> None:
    form = {"email": unique_email(), "password": PASSWORD, "slug": unique_slug("bad"), "name": "Acme", **values}
    with pytest.raises(AccountError) as refused:
        await accounts.sign_up(**form, client_address=None)
    assert field in refused.value.errors
    assert await services.tenants.get_by_slug(form["slug"].strip().lower()) is None
    async with services.database.session() as session:
        assert await session.scalar(select(Account).where(Account.email == form["email"])) is None


async def test_duplicate_email_or_slug_is_refused_and_no_tenant_is_half_made(
    accounts: AccountService, services: Services
) -> None:
    first = await sign_up(accounts)
    new_slug = unique_slug("dup")
    with pytest.raises(AccountError) as duplicate_email:
        await sign_up(accounts, email=first.account.email, slug=new_slug)
    assert "already has an account" in duplicate_email.value.errors["email"]
    assert await services.tenants.get_by_slug(new_slug) is None
    with pytest.raises(AccountError) as duplicate_slug:
        await sign_up(accounts, slug=first.created.tenant.slug)
    assert "is taken" in duplicate_slug.value.errors["slug"]


async def test_an_expired_verification_link_is_refused(
    accounts: AccountService, mailbox: Mailbox, services: Services
) -> None:
    signed_up = await sign_up(accounts)
    link = link_in(await mailbox.async_wait_for(signed_up.account.email, "Confirm"), "/verify-email")
    async with services.database.transaction() as session:
        await session.execute(
            update(AccountLink)
            .where(AccountLink.account_id == signed_up.account.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    with pytest.raises(LinkRefused, match="expired"):
        await accounts.verify_email(token_of(link), None)
    with pytest.raises(LinkRefused, match="not valid"):
        await accounts.verify_email("forged-token", None)


async def test_failed_sign_ins_lock_the_account_until_a_password_reset(
    accounts: AccountService, mailbox: Mailbox
) -> None:
    owner = await verified_owner(accounts, mailbox)
    email = owner.account.email
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        with pytest.raises(SignInRefused) as wrong:
            await accounts.sign_in(Kind.VENDOR, email, "wrong password here", "10.0.0.1")
        assert wrong.value.reason == "wrong"
    with pytest.raises(SignInRefused) as locked:
        await accounts.sign_in(Kind.VENDOR, email, "wrong password here", "10.0.0.1")
    assert locked.value.reason == "locked" and "reset your password" in str(locked.value)
    with pytest.raises(SignInRefused) as still_locked:
        await accounts.sign_in(Kind.VENDOR, email, PASSWORD, "10.0.0.1")
    assert still_locked.value.reason == "locked"

    assert await accounts.request_password_reset(email) is None
    link = link_in(await mailbox.async_wait_for(email, "Reset"), "/reset-password/confirm")
    with pytest.raises(AccountError) as weak:
        await accounts.reset_password(token_of(link), "short", None)
    assert "password" in weak.value.errors
    session_token = await accounts.sessions.start(owner.account.id)
    new_password = "a brand new passphrase"
    await accounts.reset_password(token_of(link), new_password, None)
    assert await accounts.sessions.account(session_token) is None, "a reset signs the account out everywhere"
    assert (await accounts.sign_in(Kind.VENDOR, email, new_password, "10.0.0.1")).id == owner.account.id
    with pytest.raises(LinkRefused, match="already been used"):
        await accounts.reset_password(token_of(link), "another new passphrase", None)


async def test_a_password_reset_for_an_unknown_address_says_nothing_and_sends_nothing(
    accounts: AccountService, mailbox: Mailbox
) -> None:
    before = len(mailbox.messages)
    assert await accounts.request_password_reset(unique_email("nobody")) is None
    assert len(mailbox.messages) == before


async def test_changing_the_password_ends_every_session(accounts: AccountService, mailbox: Mailbox) -> None:
    from tenants.accounts.audit import Actor

    owner = await verified_owner(accounts, mailbox)
    other_browser = await accounts.sessions.start(owner.account.id)
    actor = Actor(owner.account, "127.0.0.1")
    with pytest.raises(AccountError) as wrong:
        await accounts.change_password(actor, "not it at all", "a brand new passphrase")
    assert "current_password" in wrong.value.errors
    await accounts.change_password(actor, PASSWORD, "a brand new passphrase")
    assert await accounts.sessions.account(other_browser) is None
    with pytest.raises(SignInRefused):
        await accounts.sign_in(Kind.VENDOR, owner.account.email, PASSWORD, "127.0.0.1")


async def test_owners_invite_members_who_join_with_a_new_or_existing_account(
    accounts: AccountService, mailbox: Mailbox, services: Services
) -> None:
    from tenants.accounts.audit import Actor

    owner = await verified_owner(accounts, mailbox)
    tenant = owner.created.tenant
    newcomer = unique_email("bob")
    assert await accounts.invite(Actor(owner.account), tenant.id, newcomer, "member") is None
    link = link_in(await mailbox.async_wait_for(newcomer, "invited"), "/invitations/accept")
    invitation = await accounts.invitation(token_of(link))
    assert invitation.tenant.id == tenant.id and not invitation.has_account
    with pytest.raises(AccountError):
        await accounts.accept_invitation(token_of(link), "short", None)
    member = await accounts.accept_invitation(token_of(link), PASSWORD, None)
    assert (await accounts.role_in(member.id, tenant.slug)).role is Role.MEMBER
    assert (await accounts.sign_in(Kind.VENDOR, newcomer, PASSWORD, None)).id == member.id

    with pytest.raises(NotAllowed):
        await accounts.invite(Actor(member), tenant.id, unique_email("eve"), "owner")
    with pytest.raises(AccountError) as already:
        await accounts.invite(Actor(owner.account), tenant.id, newcomer, "member")
    assert "already a member" in already.value.errors["email"]

    # Someone with an account of their own joins with its password.
    other_owner = await verified_owner(accounts, mailbox)
    await accounts.invite(Actor(owner.account), tenant.id, other_owner.account.email, "owner")
    link = link_in(await mailbox.async_wait_for(other_owner.account.email, "invited"), "/invitations/accept")
    assert (await accounts.invitation(token_of(link))).has_account
    with pytest.raises(SignInRefused):
        await accounts.accept_invitation(token_of(link), "the wrong password", None)
    await accounts.accept_invitation(token_of(link), PASSWORD, None)
    tenants = {m.tenant.slug: m.role for m in await accounts.memberships(other_owner.account.id)}
    assert tenants == {other_owner.created.tenant.slug: Role.OWNER, tenant.slug: Role.OWNER}
    async with services.database.session() as session:
        count = len((await session.scalars(select(Membership).where(Membership.tenant_id == tenant.id))).all())
    assert count == 3


async def test_nobody_learns_of_a_tenant_they_are_not_a_member_of(accounts: AccountService, mailbox: Mailbox) -> None:
    first = await verified_owner(accounts, mailbox)
    second = await verified_owner(accounts, mailbox)
    with pytest.raises(NotAllowed):
        await accounts.role_in(first.account.id, second.created.tenant.slug)
    with pytest.raises(NotAllowed):
        await accounts.role_in(first.account.id, "no-such-tenant")


async def test_operators_are_separate_accounts(accounts: AccountService, mailbox: Mailbox) -> None:
    email = unique_email("op")
    operator = await accounts.create_operator(email, PASSWORD)
    assert (await accounts.sign_in(Kind.OPERATOR, email, PASSWORD, None)).id == operator.id
    with pytest.raises(SignInRefused):
        await accounts.sign_in(Kind.VENDOR, email, PASSWORD, None)
    with pytest.raises(AccountError, match="already has an operator account"):
        await accounts.create_operator(email, PASSWORD)
    with pytest.raises(AccountError) as weak:
        await accounts.create_operator(unique_email("op"), "short")
    assert "password" in weak.value.errors


async def test_sessions_are_replaced_at_sign_in_and_end_at_sign_out(accounts: AccountService, mailbox: Mailbox) -> None:
    owner = await verified_owner(accounts, mailbox)
    planted = await accounts.sessions.start(owner.account.id)
    fresh = await accounts.sessions.start(owner.account.id, replacing=planted)
    assert await accounts.sessions.account(planted) is None
    assert (await accounts.sessions.account(fresh)).id == owner.account.id  # type: ignore[union-attr]
    await accounts.sessions.end(fresh)
    assert await accounts.sessions.account(fresh) is None
    assert await accounts.sessions.account("x" * 1000) is None


async def test_failed_sign_ins_from_one_address_are_throttled_across_processes(
    accounts: AccountService, services: Services
) -> None:
    # A second process: its own service and limit store, the same database.
    other = AccountService(
        services.database, accounts.settings, accounts.mailer, services.tenants, DatabaseLimitStore(services.database)
    )
    address = f"198.51.100.{secrets.randbelow(250)}-{secrets.token_hex(3)}"
    for number in range(FAILED_SIGN_INS_PER_ADDRESS.limit):
        with pytest.raises(SignInRefused) as wrong:
            await (accounts, other)[number % 2].sign_in(Kind.VENDOR, unique_email(), "a wrong password", address)
        assert wrong.value.reason == "wrong"
    for service in (accounts, other):
        with pytest.raises(SignInRefused) as throttled:
            await service.sign_in(Kind.VENDOR, unique_email(), "a wrong password", address)
        assert throttled.value.reason == "throttled" and throttled.value.retry_after
    with pytest.raises(SignInRefused) as elsewhere:
        await other.sign_in(Kind.VENDOR, unique_email(), "a wrong password", address + "-elsewhere")
    assert elsewhere.value.reason == "wrong", "other addresses are not held back"
