"""The account service: sign-up, sign-in with lockout, e-mail verification, password reset and change,
invitations, memberships and operators. It owns the rules and the database session; pages only call it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Database, utcnow
from broker.limits.store import LimitStore, Rate
from broker.mail import Mail, Mailer, MailNotSent
from broker.settings import Settings
from tenants.accounts import audit
from tenants.accounts.audit import Actor, AuditLog
from tenants.accounts.links import LinkError, Purpose, find_link, issue_link, spend_link
from tenants.accounts.mails import invitation_mail, reset_mail, verification_mail
from tenants.accounts.models import Account, AccountLink, Membership
from tenants.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from tenants.accounts.sessions import ConsoleSessions
from tenants.models import Tenant
from tenants.services import CreatedTenant, TenantError, TenantService, validate_slug

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
MAX_EMAIL_LENGTH = 254
MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
# Failed sign-ins from one address, across accounts (password spraying), before that address waits; then one
# more every 30 s. Counted in the shared limit store, so every broker process holds the address back.
FAILED_SIGN_INS_PER_ADDRESS = Rate("sign-in-failures", 20, 600.0)


class Kind(StrEnum):
    VENDOR = "vendor"
    OPERATOR = "operator"


class Role(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class AccountError(ValueError):
    """Bad input on an account form: `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors.items()))
        self.errors = dict(errors)


class SignInRefused(Exception):
    """A refused sign-in; `reason` is wrong, locked, unverified or throttled, and the message says what to do."""

    def __init__(self, reason: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class LinkRefused(Exception):
    """An e-mailed link that cannot be used; the message says why and what to do."""


class NotAllowed(Exception):
    """The account may not do this (a member asking for an owner's action, or another tenant's data)."""


@dataclass(frozen=True)
class SignedUp:
    account: Account
    created: CreatedTenant
    mail_error: str | None  # why the verification mail did not go, if it did not


@dataclass(frozen=True)
class TenantRole:
    tenant: Tenant
    role: Role


@dataclass(frozen=True)
class Invitation:
    link: AccountLink
    tenant: Tenant
    has_account: bool  # the invited address already has an account: accepting asks for its password


def normalize_email(value: str) -> str:
    return (value or "").strip().lower()


def email_problem(email: str) -> str | None:
    if not EMAIL_PATTERN.match(email) or len(email) > MAX_EMAIL_LENGTH:
        return "must be an e-mail address such as ada@example.com"
    return None


class AccountService:
    def __init__(
        self, database: Database, settings: Settings, mailer: Mailer, tenants: TenantService, limits: LimitStore
    ) -> None:
        self.database = database
        self.settings = settings
        self.mailer = mailer
        self.tenants = tenants
        self.sessions = ConsoleSessions(database)
        self.audit = AuditLog(database)
        self.limits = limits

    # Sign-up and verification

    async def sign_up(self, *, email: str, password: str, slug: str, name: str, client_address: str | None) -> SignedUp:
        """Creates the tenant and its owner's (unverified) account together, then mails the verification link.
        Every field is checked before anything is written; each error names its field."""
        email = normalize_email(email)
        slug = (slug or "").strip().lower()
        errors = await self._sign_up_errors(email, password, slug, name)
        if errors:
            raise AccountError(errors)
        account = Account(kind=Kind.VENDOR, email=email, password_hash=await hash_password(password))
        token = ""

        async def add_owner(session: AsyncSession, tenant: Tenant) -> None:
            nonlocal token
            session.add(account)
            try:
                await session.flush()
            except IntegrityError as error:
                raise AccountError({"email": "already has an account; sign in instead"}) from error
            session.add(Membership(tenant_id=tenant.id, account_id=account.id, role=Role.OWNER))
            token = issue_link(session, Purpose.VERIFY_EMAIL, email, account_id=account.id).token
            audit.record(session, Actor(account, client_address), "tenant.signed_up", tenant_id=tenant.id, slug=slug)

        try:
            created = await self.tenants.create(slug, name, also=add_owner)
        except TenantError as error:
            raise AccountError({error.field: error.reason}) from error
        mail = verification_mail(self.settings.base_url, email, token, created.tenant.name)
        return SignedUp(account, created, await self._send(mail))

    async def _sign_up_errors(self, email: str, password: str, slug: str, name: str) -> dict[str, str]:
        errors: dict[str, str] = {}
        problem = email_problem(email)
        if problem is None and await self._account(Kind.VENDOR, email) is not None:
            problem = "already has an account; sign in instead (or reset your password)"
        if problem:
            errors["email"] = problem
        if problem := password_problem(password or "", email):
            errors["password"] = problem
        try:
            validate_slug(slug)
            if await self.tenants.get_by_slug(slug) is not None:
                errors["slug"] = f"{slug!r} is taken; choose another"
        except TenantError as error:
            errors["slug"] = error.reason
        if not (name or "").strip() or len(name.strip()) > 200:
            errors["name"] = "must be 1 to 200 characters; it is the tool name LMS admins see"
        return errors

    async def send_verification(self, email: str) -> str | None:
        """Mails a new verification link if this address has an unverified account; says nothing either way
        (so the form does not reveal who has an account). Returns why the mail did not go, if it did not."""
        email = normalize_email(email)
        async with self.database.transaction() as session:
            account = await self._account(Kind.VENDOR, email, session)
            if account is None or account.email_verified_at is not None:
                return None
            token = issue_link(session, Purpose.VERIFY_EMAIL, email, account_id=account.id).token
        return await self._send(verification_mail(self.settings.base_url, email, token, None))

    async def verify_email(self, token: str, client_address: str | None) -> Account:
        async with self.database.transaction() as session:
            link = await self._spend(session, token, Purpose.VERIFY_EMAIL)
            account = await session.get(Account, link.account_id)
            if account is None or account.email != link.email:
                raise LinkRefused("This link belongs to an account that no longer exists.")
            account.email_verified_at = account.email_verified_at or utcnow()
            audit.record(session, Actor(account, client_address), "account.email_verified")
        return account

    # Sign-in

    async def sign_in(self, kind: Kind, email: str, password: str, client_address: str | None) -> Account:
        """The account, if the password is right and it may sign in now; SignInRefused saying why not."""
        address = client_address or "unknown"
        wait = math.ceil(await self.limits.wait(FAILED_SIGN_INS_PER_ADDRESS, address))
        if wait:
            raise SignInRefused(
                "throttled",
                f"Too many failed sign-ins from your network. Try again in {_minutes(wait)}.",
                retry_after=wait,
            )
        account = await self._account(kind, normalize_email(email))
        now = utcnow()
        if account is not None and account.locked_until is not None and account.locked_until > now:
            raise SignInRefused("locked", _locked_message(account.locked_until))
        if not await verify_password(account.password_hash if account else None, password or ""):
            await self.limits.take([(FAILED_SIGN_INS_PER_ADDRESS, address)])
            if account is not None:
                locked_until = await self._count_failure(account, client_address)
                if locked_until is not None:
                    raise SignInRefused("locked", _locked_message(locked_until))
            raise SignInRefused("wrong", "The e-mail address or the password is wrong.")
        if kind is Kind.VENDOR and account is not None and account.email_verified_at is None:
            raise SignInRefused(
                "unverified",
                f"Confirm your e-mail address first: open the link we sent to {account.email}. "
                "No mail? Send it again below.",
            )
        assert account is not None
        await self._signed_in(account, password, client_address)
        return account

    async def _count_failure(self, account: Account, client_address: str | None) -> datetime | None:
        """Counts a failed sign-in; at the limit, locks the account and answers until when."""
        async with self.database.transaction() as session:
            await session.execute(
                update(Account).where(Account.id == account.id).values(failed_logins=Account.failed_logins + 1)
            )
            failures = await session.scalar(select(Account.failed_logins).where(Account.id == account.id))
            if (failures or 0) < MAX_FAILED_SIGN_INS:
                return None
            locked_until = utcnow() + LOCKOUT
            await session.execute(
                update(Account).where(Account.id == account.id).values(failed_logins=0, locked_until=locked_until)
            )
            audit.record(session, Actor(account, client_address), "account.locked", until=locked_until.isoformat())
        return locked_until

    async def _signed_in(self, account: Account, password: str, client_address: str | None) -> None:
        values: dict[str, object] = {"failed_logins": 0, "locked_until": None, "last_login_at": utcnow()}
        if needs_rehash(account.password_hash):
            values["password_hash"] = await hash_password(password)
        async with self.database.transaction() as session:
            await session.execute(update(Account).where(Account.id == account.id).values(**values))
            audit.record(session, Actor(account, client_address), "account.signed_in")

    # Passwords

    async def request_password_reset(self, email: str) -> str | None:
        """Mails a reset link if a vendor account has this address; says nothing either way. Returns why the
        mail did not go, if it did not."""
        email = normalize_email(email)
        async with self.database.transaction() as session:
            account = await self._account(Kind.VENDOR, email, session)
            if account is None:
                return None
            token = issue_link(session, Purpose.RESET_PASSWORD, email, account_id=account.id).token
        return await self._send(reset_mail(self.settings.base_url, email, token))

    async def check_link(self, token: str, purpose: Purpose) -> None:
        """Raises LinkRefused if the link could not be used now; spends nothing (mail scanners open links)."""
        async with self.database.session() as session:
            await self._find(session, token, purpose)

    async def reset_password(self, token: str, password: str, client_address: str | None) -> Account:
        """Sets the new password, unlocks the account, confirms its address (the link came to it) and signs
        it out everywhere."""
        async with self.database.session() as session:
            link = await self._find(session, token, Purpose.RESET_PASSWORD)
        if problem := password_problem(password or "", link.email):
            raise AccountError({"password": problem})
        password_hash = await hash_password(password)
        async with self.database.transaction() as session:
            link = await self._spend(session, token, Purpose.RESET_PASSWORD)
            account = await session.get(Account, link.account_id)
            if account is None:
                raise LinkRefused("This link belongs to an account that no longer exists.")
            account.password_hash = password_hash
            account.password_changed_at = utcnow()
            account.failed_logins = 0
            account.locked_until = None
            account.email_verified_at = account.email_verified_at or utcnow()
            audit.record(session, Actor(account, client_address), "account.password_reset")
        await self.sessions.end_all(account.id)
        return account

    async def change_password(self, actor: Actor, current: str, new: str) -> None:
        """Changes the password and ends every session of the account (the caller starts a new one)."""
        account = actor.account
        if not await verify_password(account.password_hash, current or ""):
            raise AccountError({"current_password": "is not your current password"})
        if problem := password_problem(new or "", account.email):
            raise AccountError({"new_password": problem})
        password_hash = await hash_password(new)
        async with self.database.transaction() as session:
            await session.execute(
                update(Account)
                .where(Account.id == account.id)
                .values(password_hash=password_hash, password_changed_at=utcnow())
            )
            audit.record(session, actor, "account.password_changed")
        await self.sessions.end_all(account.id)

    # Tenants, members and invitations

    async def memberships(self, account_id: str) -> list[TenantRole]:
        async with self.database.session() as session:
            rows = await session.execute(
                select(Tenant, Membership.role)
                .join(Membership, Membership.tenant_id == Tenant.id)
                .where(Membership.account_id == account_id)
                .order_by(Tenant.name, Tenant.slug)
            )
            return [TenantRole(tenant, Role(role)) for tenant, role in rows.all()]

    async def role_in(self, account_id: str, slug: str) -> TenantRole:
        """The account's tenant of this slug and its role there; NotAllowed when it is not a member (whether the
        tenant exists or not, so that nobody learns of other tenants)."""
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(Tenant, Membership.role)
                    .join(Membership, Membership.tenant_id == Tenant.id)
                    .where(Membership.account_id == account_id, Tenant.slug == slug)
                )
            ).first()
        if row is None:
            raise NotAllowed("You are not a member of this tenant.")
        return TenantRole(row[0], Role(row[1]))

    async def members(self, tenant_id: str) -> list[tuple[Account, Role]]:
        async with self.database.session() as session:
            rows = await session.execute(
                select(Account, Membership.role)
                .join(Membership, Membership.account_id == Account.id)
                .where(Membership.tenant_id == tenant_id)
                .order_by(Account.email)
            )
            return [(account, Role(role)) for account, role in rows.all()]

    async def invite(self, actor: Actor, tenant_id: str, email: str, role: str) -> str | None:
        """Mails an invitation to join the tenant. Owners only. Returns why the mail did not go, if it did not."""
        email = normalize_email(email)
        errors = {}
        if problem := email_problem(email):
            errors["email"] = problem
        if role not in tuple(Role):
            errors["role"] = "must be owner or member"
        if errors:
            raise AccountError(errors)
        async with self.database.transaction() as session:
            if await self._role(session, actor.account.id, tenant_id) is not Role.OWNER:
                raise NotAllowed("Only the tenant's owners can invite people.")
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            member = await session.scalar(
                select(func.count())
                .select_from(Membership)
                .join(Account, Account.id == Membership.account_id)
                .where(Membership.tenant_id == tenant_id, Account.email == email)
            )
            if member:
                raise AccountError({"email": "is already a member of this tenant"})
            token = issue_link(
                session, Purpose.INVITATION, email, tenant_id=tenant_id, role=role, invited_by=actor.account.id
            ).token
            audit.record(session, actor, "member.invited", tenant_id=tenant_id, email=email, role=role)
        mail = invitation_mail(self.settings.base_url, email, token, tenant.name, actor.account.email, role)
        return await self._send(mail)

    async def invitation(self, token: str) -> Invitation:
        async with self.database.session() as session:
            link = await self._find(session, token, Purpose.INVITATION)
            tenant = await session.get(Tenant, link.tenant_id)
            if tenant is None:
                raise LinkRefused("The tenant of this invitation no longer exists.")
            return Invitation(link, tenant, await self._account(Kind.VENDOR, link.email, session) is not None)

    async def accept_invitation(self, token: str, password: str, client_address: str | None) -> Account:
        """Joins the invited address to the tenant: with its existing account (its password proves it), or with a
        new account using this password (the mail proved the address)."""
        invitation = await self.invitation(token)
        email = invitation.link.email
        if invitation.has_account:
            account = await self.sign_in(Kind.VENDOR, email, password, client_address)
        else:
            if problem := password_problem(password or "", email):
                raise AccountError({"password": problem})
            account = Account(
                kind=Kind.VENDOR, email=email, password_hash=await hash_password(password), email_verified_at=utcnow()
            )
        async with self.database.transaction() as session:
            link = await self._spend(session, token, Purpose.INVITATION)
            if not invitation.has_account:
                session.add(account)
                await session.flush()
            existing = await self._role(session, account.id, invitation.tenant.id)
            if existing is None:
                session.add(Membership(tenant_id=invitation.tenant.id, account_id=account.id, role=link.role))
            audit.record(
                session, Actor(account, client_address), "member.joined", tenant_id=invitation.tenant.id, role=link.role
            )
        return account

    # Operators

    async def create_operator(self, email: str, password: str) -> Account:
        email = normalize_email(email)
        errors = {}
        if problem := email_problem(email):
            errors["email"] = problem
        if problem := password_problem(password or "", email):
            errors["password"] = problem
        if errors:
            raise AccountError(errors)
        account = Account(
            kind=Kind.OPERATOR, email=email, password_hash=await hash_password(password), email_verified_at=utcnow()
        )
        try:
            async with self.database.transaction() as session:
                session.add(account)
                await session.flush()
                audit.record(session, None, "operator.created", email=email)
        except IntegrityError as error:
            raise AccountError({"email": "already has an operator account"}) from error
        return account

    # Helpers

    async def _account(self, kind: Kind, email: str, session: AsyncSession | None = None) -> Account | None:
        query = select(Account).where(Account.kind == kind, Account.email == email)
        if session is not None:
            return await session.scalar(query)
        async with self.database.session() as own:
            return await own.scalar(query)

    async def _role(self, session: AsyncSession, account_id: str, tenant_id: str) -> Role | None:
        role = await session.scalar(
            select(Membership.role).where(Membership.account_id == account_id, Membership.tenant_id == tenant_id)
        )
        return Role(role) if role else None

    async def _find(self, session: AsyncSession, token: str, purpose: Purpose) -> AccountLink:
        try:
            return await find_link(session, token, purpose)
        except LinkError as error:
            raise LinkRefused(_link_message(error.reason, purpose)) from error

    async def _spend(self, session: AsyncSession, token: str, purpose: Purpose) -> AccountLink:
        try:
            return await spend_link(session, token, purpose)
        except LinkError as error:
            raise LinkRefused(_link_message(error.reason, purpose)) from error

    async def _send(self, mail: Mail) -> str | None:
        try:
            await self.mailer.send(mail)
        except MailNotSent as error:
            return str(error)
        return None


_ASK_AGAIN = {
    Purpose.VERIFY_EMAIL: "Sign in to have a new confirmation link sent.",
    Purpose.RESET_PASSWORD: "Ask for a new link on the password reset page.",
    Purpose.INVITATION: "Ask the tenant's owner to invite you again.",
}


def _link_message(reason: str, purpose: Purpose) -> str:
    what = {
        "used": "This link has already been used; each link works once.",
        "expired": "This link has expired.",
    }.get(reason, "This link is not valid (it may have been copied incompletely).")
    return f"{what} {_ASK_AGAIN[purpose]}"


def _locked_message(until: datetime) -> str:
    return (
        f"This account is locked after {MAX_FAILED_SIGN_INS} failed sign-ins, until {until:%H:%M} UTC. "
        "Wait until then, or reset your password to unlock it now."
    )


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute" + ("s" if minutes != 1 else "")
