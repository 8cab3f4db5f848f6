"""Registration status changes a tenant or operator makes: activate a pending registration, disable one,
enable a disabled one. Each change and its event commit together; asking for the status a registration
already has changes nothing and announces nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broker.database import Database, utcnow
from broker.registration.models import Registration, RegistrationStatus
from broker.registration.representation import registration_item
from broker.webhooks.models import EventType
from broker.webhooks.outbox import record_event
from tenants.models import Tenant


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[RegistrationStatus]
    to: RegistrationStatus
    event_type: EventType


TRANSITIONS = {
    "activate": Transition(
        frozenset({RegistrationStatus.PENDING}), RegistrationStatus.ACTIVE, EventType.REGISTRATION_ACTIVATED
    ),
    "enable": Transition(
        frozenset({RegistrationStatus.DISABLED}), RegistrationStatus.ACTIVE, EventType.REGISTRATION_ACTIVATED
    ),
    "disable": Transition(
        frozenset({RegistrationStatus.ACTIVE, RegistrationStatus.PENDING}),
        RegistrationStatus.DISABLED,
        EventType.REGISTRATION_DISABLED,
    ),
}


class StatusChangeError(Exception):
    """The change does not apply to the registration's current status; the message says what does."""


class UnknownRegistrationError(LookupError):
    pass


def check_transition(current: str, action: str) -> Transition | None:
    """The transition to make, None when the registration is there already; raises when it cannot move."""
    transition = TRANSITIONS[action]
    if current == transition.to:
        return None
    if current not in transition.allowed_from:
        hint = "enable it instead" if current == RegistrationStatus.DISABLED else "activate it instead"
        raise StatusChangeError(f"cannot {action} a registration that is {current}; {hint}")
    return transition


async def _check_client_is_free(session: AsyncSession, registration: Registration) -> None:
    # A platform client belongs to one tenant: a registration disabled because another tenant holds its client
    # (the upgrade that resolved such duplicates did that) stays disabled while that one is live.
    holder = await session.scalar(
        select(Registration.id).where(
            Registration.issuer == registration.issuer,
            Registration.client_id == registration.client_id,
            Registration.id != registration.id,
            Registration.status != RegistrationStatus.DISABLED,
        )
    )
    if holder is not None:
        raise StatusChangeError(
            "cannot enable this registration: its LMS client (issuer and client_id) belongs to another tool's "
            "live registration; register the tool again from the LMS instead"
        )


async def change_status(
    database: Database, registration_id: str, action: str, *, tenant_id: str | None = None
) -> Registration:
    """`tenant_id` (the API) limits the change to that tenant's registrations; None (the operator) does not."""
    async with database.transaction() as session:
        query = select(Registration).where(Registration.id == registration_id)
        if tenant_id is not None:
            query = query.where(Registration.tenant_id == tenant_id)
        registration = await session.scalar(query.with_for_update())
        if registration is None:
            raise UnknownRegistrationError(f"no registration {registration_id!r}")
        transition = check_transition(registration.status, action)
        if transition is not None and registration.status == RegistrationStatus.DISABLED:
            await _check_client_is_free(session, registration)
        if transition is not None:
            registration.status = transition.to
            registration.updated_at = utcnow()
            await session.flush()
            tenant = await session.get(Tenant, registration.tenant_id)
            assert tenant is not None
            await record_event(session, tenant, transition.event_type, registration_item(registration))
    return registration
