"""LTI 1.3 launches through the broker: the OIDC login and the launch (id_token validation, deployment policy,
relay to the tenant's tool).

The protocol rules are the pure functions of this package; this service owns the database, the caches and
the keys (the launch states are kept by `states.LaunchStates`). Every refusal is a `LaunchRefused`, which the
routes show as a 4xx page, and none carries a token.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from broker.autopost import auto_post_form
from broker.database import Database, utcnow
from broker.launch import errors
from broker.launch.client_storage import (
    PROOF_FIELD,
    get_page,
    posted_by_our_page,
    put_page,
    storage_origin,
    valid_storage_target,
)
from broker.launch.directory import LaunchDirectory, RegistrationView, TenantView
from broker.launch.id_token import IdTokenError, UnknownKeyIdError, validate_id_token
from broker.launch.item_links import ItemLinks, tool_target
from broker.launch.jose import random_token
from broker.launch.launch_token import build_launch_token
from broker.launch.login_origin import LoginSource, host_of, with_learnt_host
from broker.launch.messages import LtiMessageError, check_lti_message
from broker.launch.oidc_login import LoginRequest, LoginRequestError, authorization_request_url, parse_login_request
from broker.launch.platform_keys import PlatformKeys, PlatformKeysError
from broker.launch.state_binding import browser_started_login, state_cookie_name
from broker.launch.states import InWrite, LaunchStates, NewState, PendingLaunch, StorageOffer
from broker.lti import TARGET_LINK_URI
from broker.registration.models import Deployment, DeploymentSource, Registration, RegistrationStatus
from broker.registration.representation import deployment_event_data
from broker.settings import Settings
from broker.webhooks.models import EventType
from broker.webhooks.outbox import record_event
from tenants.hosts import TenantSite
from tenants.keys import KeyRing
from tenants.models import Tenant

logger = logging.getLogger("broker.launch")


@dataclass(frozen=True)
class Leaving:
    """What the page before a login redirect names: the browser was not sent by the platform (login_origin.py)."""

    host: str
    issuer: str
    tool_name: str


@dataclass(frozen=True)
class LoginRedirect:
    location: str
    state_cookie: str
    # With the platform's postMessage storage: the page that stores the nonce, then goes to `location`.
    storage_page: str | None = None
    # Set when the login did not come from the platform's pages: show where it leads before going there.
    leaving: Leaving | None = None


@dataclass(frozen=True)
class Relay:
    html: str
    tool_url: str
    state_cookie: str


@dataclass(frozen=True)
class StorageCheck:
    """The launch's answer while the state is unproven: a page that reads the platform's storage and posts back."""

    html: str


class LaunchService:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        key_ring: KeyRing,
        platform_keys: PlatformKeys,
        directory: LaunchDirectory,
    ) -> None:
        self.database = database
        self.settings = settings
        self.key_ring = key_ring
        self.platform_keys = platform_keys
        self.directory = directory
        self.states = LaunchStates(database, settings.secret_key)
        self.items = ItemLinks(settings)

    # ----------------------------------------------------------------- login (third-party initiated)
    async def login(
        self,
        site: TenantSite,
        params: Mapping[str, str],
        source: LoginSource | None = None,
        count: Callable[[], Awaitable[None]] | None = None,
    ) -> LoginRedirect:
        """`site`: where the LMS reached the tenant; the redirect_uri and the target must be on it. `source`: what
        the browser says about where the login came from (login_origin.py); None: nothing. `count`: the request's
        limits, its one write (the login stores nothing: its state is sealed into `state`)."""
        source = source or LoginSource()
        tenant = await self._tenant(site.slug)
        try:
            request = parse_login_request(params)
        except LoginRequestError as error:
            raise errors.BadLoginRequest(f"{error.field}: {error.reason}.", field=error.field) from error
        item = self._check_target(site, request.target_link_uri)
        registration = await self._registration_for(tenant, request)
        if item is not None and self.items.path_of(registration.id, item) is None:
            raise errors.BadLoginRequest(
                f"target_link_uri {request.target_link_uri!r} is not an item this tool deep-linked in this LMS "
                "(it was made for another LMS, or altered). Add the item again from the tool.",
                field="target_link_uri",
            )
        if registration.authorization_endpoint is None:
            raise errors.UnknownPlatform(
                "This LMS published no authorization endpoint when it registered the tool.",
                field="authorization_endpoint",
            )
        nonce = random_token(24)
        target = valid_storage_target(params.get("lti_storage_target"))
        new = NewState(
            tenant.id, registration.id, nonce, request.target_link_uri, request.lti_deployment_id, target, source.host
        )
        if count is not None:
            await count()
        state = self.states.begin(new)
        digest = self.states.digest(state)
        location = authorization_request_url(
            registration.authorization_endpoint,
            client_id=registration.client_id,
            redirect_uri=site.launch_url,
            login=request,
            state=state,
            nonce=nonce,
        )
        if not source.goes_straight_on(registration.login_hosts):
            # Not its LMS's frame or page (a link from an e-mail, another site): a page names where it leads. The
            # state cookie binds this launch; the platform's storage is for logins in the LMS's frame.
            host = host_of(registration.authorization_endpoint) or registration.authorization_endpoint
            leaving = Leaving(host, registration.issuer, tenant.name)
            return LoginRedirect(location, state_cookie_name(digest), leaving=leaving)
        if target is None:
            return LoginRedirect(location, state_cookie_name(digest))
        origin = storage_origin(registration.authorization_endpoint)
        page = put_page(next_url=location, target=target, origin=origin, state=state, nonce=nonce)
        return LoginRedirect(location, state_cookie_name(digest), page)

    def _check_target(self, site: TenantSite, target_link_uri: str) -> str | None:
        """The item token when the target is one of the tenant's deep-linked item URLs, None for its launch URL.

        Only the tenant's own URLs: anything else would make the login an open redirect.
        """
        if target_link_uri == site.launch_url:
            return None  # most logins: the launch URL itself, with no query or fragment to take off
        try:
            target = urlsplit(target_link_uri)._replace(query="", fragment="").geturl()
        except ValueError:  # unbalanced IPv6 brackets (https://[::1), a netloc that NFKC-normalizes to /?#@:
            target = None
        if target == site.launch_url:
            return None
        item = None if target is None else self.items.token_in(site.slug, target)
        if item is None:
            raise errors.BadLoginRequest(
                f"target_link_uri {target_link_uri!r} is not this tool's launch URL {site.launch_url!r} "
                "nor an item it deep-linked.",
                field="target_link_uri",
            )
        return item

    async def _registration_for(self, tenant: TenantView, request: LoginRequest) -> RegistrationView:
        candidates = await self.directory.registrations(tenant.id, request.iss)
        if request.client_id is not None:
            candidates = tuple(view for view in candidates if view.client_id == request.client_id)
        if not candidates and request.client_id is not None:
            await self._refuse_another_tools_client(tenant, request.iss, request.client_id)
        if not candidates:
            which = f"issuer {request.iss!r}" + (f" and client_id {request.client_id!r}" if request.client_id else "")
            raise errors.UnknownPlatform(
                f"The tool has no registration for {which}.", field="client_id" if request.client_id else "iss"
            )
        if len(candidates) > 1:
            raise errors.BadLoginRequest(
                f"The tool has {len(candidates)} registrations for issuer {request.iss!r}, and the LMS did not "
                "send client_id to say which one this launch is for.",
                field="client_id",
            )
        registration = candidates[0]
        _check_active(registration)
        return registration

    async def _refuse_another_tools_client(self, tenant: TenantView, issuer: str, client_id: str) -> None:
        # A registration never moves between tenants, and neither does its launch: it is refused, not relayed.
        if await self.directory.held_by_another_tenant(tenant.id, issuer, client_id):
            raise errors.RegistrationOfAnotherTool(
                f"This launch is for client_id {client_id!r} of {issuer!r}, a registration that belongs to "
                f"another tool at this broker, not to {tenant.name}. The launch was not passed on.",
                field="client_id",
            )

    # ----------------------------------------------------------------- launch (the platform's form_post)
    async def launch(
        self,
        site: TenantSite,
        form: Mapping[str, str],
        cookies: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
        in_write: InWrite | None = None,
    ) -> Relay | StorageCheck:
        """`headers` are the request's: a storage proof counts only when our own page posted it. `in_write`: the
        request's own work in the write that spends the state (its limits)."""
        tenant = await self._tenant(site.slug)
        tool_url = _tool_url(tenant)
        state = form.get("state")
        if not state:
            raise errors.LaunchStateRefused("The LMS's answer has no state.", field="state")
        digest = self.states.digest(state)
        proof = form.get(PROOF_FIELD)
        # Neither a proof nor the state's cookie: if the login offered the platform's storage, the storage check
        # comes first and the state stays unspent until the proof comes back (an error answer needs no check).
        unbound = proof is None and state_cookie_name(digest) not in cookies and not form.get("error")
        spent = await self.states.spend(tenant.id, state, digest=digest, unless_offered=unbound, in_write=in_write)
        if isinstance(spent, StorageOffer):
            check = await self._storage_check(site, spent, form)
            if check is not None:
                return check
            spent = await self.states.spend(tenant.id, state, digest=digest, in_write=in_write)
        assert isinstance(spent, PendingLaunch)  # only an offer is answered instead of spending
        pending = spent
        headers = headers or {}
        our_origin = storage_origin(site.launch_url)
        from_our_page = posted_by_our_page(headers.get("origin"), headers.get("sec-fetch-site"), our_origin)
        self._check_binding(cookies, digest, proof if proof is None or from_our_page else "", pending.nonce)
        if form.get("error"):
            raise errors.PlatformSentError(f"{form['error']}: {form.get('error_description') or 'no description'}")
        id_token = form.get("id_token")
        if not id_token:
            raise errors.IdTokenRefused("The LMS's answer has no id_token.", field="id_token")
        registration = await self.directory.registration(pending.registration_id)
        if registration is None:
            raise errors.UnknownPlatform("The registration this launch started with has been removed.")
        _check_active(registration)
        claims = await self._validated_claims(registration, id_token, pending.nonce)
        try:
            message = check_lti_message(
                claims,
                login_target_link_uri=self._expected_target(site.slug, registration, pending.target_link_uri, claims),
                login_deployment_id=pending.lti_deployment_id,
            )
        except LtiMessageError as error:
            raise errors.IdTokenRefused(f"{error.field}: {error.reason}.", field=error.field) from error
        await self._accept_deployment(tenant, registration, message.deployment_id)
        if not registration.launched:
            await self._mark_launched(registration)
        if pending.login_host is not None and pending.login_host not in registration.login_hosts:
            await self._learn_login_host(registration, pending.login_host)
        target = self._tool_target(site.slug, registration, tool_url, message.target_link_uri)
        token = build_launch_token(
            claims,
            signing_key=await self._signing_key(site.slug),
            issuer=self.settings.tenant_url(site.slug),  # the same in every mode: tools never notice hosts
            audience=tool_url,
            target=target,
            registration_id=registration.id,
            now=time.time(),
        )
        html = auto_post_form(target, {"launch_token": token}, title=f"Opening {tenant.name}…")
        return Relay(html, target, state_cookie_name(digest))

    def _expected_target(
        self, slug: str, registration: RegistrationView, login_target: str, claims: Mapping[str, Any]
    ) -> str:
        """The target_link_uri the id_token must hold: the login's, or an item URL issued for this registration
        when the login named the launch URL (Open edX names a deep-linked item in the id_token only)."""
        named = claims.get(TARGET_LINK_URI)
        if not isinstance(named, str) or named == login_target or self.items.token_in(slug, login_target):
            return login_target
        item = self.items.token_in(slug, named)
        if item is not None and self.items.path_of(registration.id, item) is not None:
            return named
        return login_target

    def _tool_target(self, slug: str, registration: RegistrationView, tool_url: str, target: str | None) -> str:
        """Where the launch goes: the deep-linked item's URL on the tool's origin, else the tool URL."""
        item = None if target is None else self.items.token_in(slug, target)
        path = None if item is None else self.items.path_of(registration.id, item)
        return tool_url if path is None else tool_target(tool_url, path)

    async def _storage_check(
        self, site: TenantSite, offer: StorageOffer, form: Mapping[str, str]
    ) -> StorageCheck | None:
        """The page that proves the binding from the platform's storage the login offered; None when the
        registration can no longer say where that storage is."""
        registration = await self.directory.registration(offer.registration_id)
        if registration is None or registration.authorization_endpoint is None:
            return None
        html = get_page(
            action=site.launch_url,
            target=offer.storage_target,
            origin=storage_origin(registration.authorization_endpoint),
            state=form["state"],
            id_token=form.get("id_token", ""),
        )
        return StorageCheck(html)

    @staticmethod
    def _check_binding(cookies: Mapping[str, str], digest: str, proof: str | None, nonce: str) -> None:
        # A proof posted by another site than ours is worth nothing: whoever started a login knows its nonce.
        if proof is not None:
            if not hmac.compare_digest(proof.encode(), nonce.encode()):
                raise errors.LaunchStateRefused(
                    "This launch was started in another browser than the one finishing it: the LMS's storage "
                    "in this browser does not hold it.",
                    field="state",
                )
            return
        if not browser_started_login(cookies, digest):
            raise errors.LaunchStateRefused(
                "This launch was started in another browser (or another tab's session) than the one finishing it.",
                field="state",
            )

    async def _validated_claims(self, registration: RegistrationView, id_token: str, nonce: str) -> dict[str, Any]:
        keys = await self._platform_keys(registration)
        try:
            return self._validate(registration, id_token, nonce, keys)
        except UnknownKeyIdError as unknown:
            try:
                newer = await self.platform_keys.refresh(registration.jwks_uri, keys)
            except PlatformKeysError as error:
                raise errors.PlatformKeysUnavailable(f"{error.reason}.") from error
            if newer is None:
                raise _unknown_key(unknown) from unknown
        try:
            return self._validate(registration, id_token, nonce, newer)
        except UnknownKeyIdError as unknown:
            raise _unknown_key(unknown) from unknown

    async def _platform_keys(self, registration: RegistrationView) -> KeySet:
        try:
            return await self.platform_keys.get(registration.jwks_uri)
        except PlatformKeysError as error:
            raise errors.PlatformKeysUnavailable(f"{error.reason}.") from error

    @staticmethod
    def _validate(registration: RegistrationView, id_token: str, nonce: str, keys: KeySet) -> dict[str, Any]:
        try:
            return validate_id_token(
                id_token,
                keys=keys,
                issuer=registration.issuer,
                client_id=registration.client_id,
                nonce=nonce,
                now=time.time(),
            )
        except UnknownKeyIdError:
            raise
        except IdTokenError as error:
            raise errors.IdTokenRefused(f"{error.field}: {error.reason}.", field=error.field) from error

    async def _accept_deployment(self, tenant: TenantView, registration: RegistrationView, deployment_id: str) -> None:
        """A deployment not seen before, in a valid id_token, is recorded and announced: one registration has many
        deployments (Canvas makes one per install point), and the registration answer often names none."""
        if deployment_id in registration.deployment_ids:
            return
        if not tenant.accept_new_deployments:
            raise errors.DeploymentRefused(
                f"Deployment {deployment_id!r} of this LMS is new, and the tool accepts only deployments it "
                "has approved.",
                field="deployment_id",
            )
        try:
            async with self.database.transaction() as session:
                deployment = Deployment(
                    registration_id=registration.id, deployment_id=deployment_id, source=DeploymentSource.LAUNCH
                )
                session.add(deployment)
                await session.flush()
                row = await session.get(Registration, registration.id, populate_existing=True)
                tenant_row = await session.get(Tenant, tenant.id)
                if row is not None and tenant_row is not None:
                    data = deployment_event_data(row, deployment_id)
                    await record_event(session, tenant_row, EventType.DEPLOYMENT_CREATED, data)
        except IntegrityError:
            pass  # a concurrent launch recorded (and announced) it first
        self.directory.forget(registration)
        logger.info("new deployment %r recorded for registration %s", deployment_id, registration.id)

    async def _mark_launched(self, registration: RegistrationView) -> None:
        async with self.database.transaction() as session:
            await session.execute(
                update(Registration)
                .where(Registration.id == registration.id, Registration.launched_at.is_(None))
                .values(launched_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        self.directory.forget(registration)

    async def _learn_login_host(self, registration: RegistrationView, host: str) -> None:
        """A login from `host` completed a launch the platform signed: later logins from there go straight on."""
        hosts = with_learnt_host(list(registration.learnt_login_hosts), host)
        async with self.database.transaction() as session:
            await session.execute(
                update(Registration)
                .where(Registration.id == registration.id)
                .values(login_hosts=hosts)
                .execution_options(synchronize_session=False)
            )
        self.directory.forget(registration)

    # ----------------------------------------------------------------- shared
    async def _tenant(self, slug: str) -> TenantView:
        tenant = await self.directory.tenant(slug)
        if tenant is None:
            raise errors.UnknownTool("There is no tool at this launch URL.")
        if tenant.suspended:
            raise errors.ToolSuspended("The broker's operator has suspended this tool.")
        _tool_url(tenant)
        return tenant

    async def _signing_key(self, slug: str) -> RSAKey:
        keys = await self.key_ring.get(slug)
        if keys is None or keys.signing_key is None:
            raise errors.ToolNotReady("The tool has no active signing key at the broker.")
        return keys.signing_key


def _tool_url(tenant: TenantView) -> str:
    if not tenant.tool_url:
        raise errors.ToolNotReady("The tool has not told the broker where its launches go (no tool URL).")
    return tenant.tool_url


def _unknown_key(error: UnknownKeyIdError) -> errors.IdTokenRefused:
    return errors.IdTokenRefused(
        f"kid: the LMS signed with key {error.kid!r}, which its published key set does not hold.", field="kid"
    )


def _check_active(registration: RegistrationView) -> None:
    if registration.status != RegistrationStatus.ACTIVE:
        raise errors.RegistrationNotActive(
            f"The registration of this LMS is {registration.status}: launches work once the tool's vendor "
            "activates it."
        )
