"""Routes of Dynamic Registration: thin, they parse, call the service and render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker import metrics
from broker.forms import UnreadableForm, form_fields
from broker.inline_scripts import CLOSE
from broker.limits.public import RegistrationPageLimits, TooManyRequests, client_address, limited
from broker.pages import render
from broker.refusals import Refusal, refusal_page
from broker.registration import descriptions, errors, review, views
from broker.registration.models import RegistrationStatus
from broker.registration.profiles.selection import profile_named
from broker.registration.service import Completed, Review, parse_initiation
from broker.services import services
from tenants.hosts import REGISTRATION_PATH
from tenants.models import ReadOnlyTenant
from tenants.snapshots import TenantSnapshot


async def register(request: Request) -> Response:
    found = services(request)
    # The page's limits are taken in the step's own writes (see RegistrationPageLimits).
    limits = found.public_limits.registration_page(request.path_params["slug"], client_address(request))
    try:
        tenant = await _tenant(request)
        if request.method == "GET":
            initiation = parse_initiation(request.query_params)
            async with limits.calling(tenant.id):
                outcome = await found.registrations.begin(tenant, initiation, limits)
        else:
            form = await form_fields(request)
            state = form.get("state")
            if not state:
                raise errors.ReviewExpiredError("The form is missing its state.", field="state")
            # Ticked checkboxes are the only review fields a browser sends; unticked items are left out.
            async with limits.calling(tenant.id):
                outcome = await found.registrations.complete(tenant, state, review.ticked(form.keys()), limits)
    except (errors.RegistrationError, UnreadableForm, TooManyRequests) as refusal:
        return await _refused(request, limits, refusal)
    outcome_name = "review" if isinstance(outcome, Review) else "registered"
    metrics.REGISTRATIONS.labels(outcome_name, outcome.platform.profile, tenant.slug).inc()
    if isinstance(outcome, Review):
        return _review_page(request, tenant, outcome)
    return _registered_page(request, tenant, outcome)


async def _refused(
    request: Request,
    limits: RegistrationPageLimits,
    refusal: errors.RegistrationError | UnreadableForm | TooManyRequests,
) -> Response:
    try:
        # A request refused before its step's first write counts against the page's limits all the same.
        await limits.count_request()
    except TooManyRequests as over:
        return refusal_page(request, over, framable=True)
    # Only known tenants are named: a made-up slug must not make a new series.
    slug = "" if isinstance(refusal, errors.UnknownTenantError) else request.path_params["slug"]
    metrics.REGISTRATIONS.labels(type(refusal).__name__, "unknown", slug).inc()
    return refusal_page(request, refusal, framable=True)


async def _tenant(request: Request) -> TenantSnapshot:
    tenant = await services(request).tenants.snapshot(request.path_params["slug"])
    if tenant is None:
        raise errors.UnknownTenantError("There is no tool at this registration URL.")
    if tenant.suspended_at is not None:
        raise errors.TenantSuspendedError("The broker's operator has suspended this tool.")
    return tenant


def _review_page(request: Request, tenant: ReadOnlyTenant, outcome: Review) -> Response:
    context = views.review_page(tenant.name, outcome.platform, outcome.profile, outcome.plan, outcome.notes)
    context["form_state"] = outcome.form_state
    # Posts back to the bare path: the initiation query may hold the registration token.
    context["form_action"] = _path(request)
    return render(request, "review.html", context, framable=True)


def _registered_page(request: Request, tenant: ReadOnlyTenant, completed: Completed) -> Response:
    registration = completed.registration
    scopes_missing = [s for s in registration.scopes_requested if s not in registration.scopes_granted]
    verify_state = services(request).tokens.verify_form_state(tenant, registration, completed.attempt_id)
    pending = registration.status == RegistrationStatus.PENDING
    context = views.registered_page(
        tenant.name,
        completed.platform,
        profile_named(completed.platform.profile),
        completed.plan,
        registration.issuer,
        registration.client_id,
        registration.deployment_ids,
        registration.status,
        registration.scopes_requested,
        scopes_missing,
    )
    context |= {
        "close_script": CLOSE.source,
        # The LMS closes its dialog on the close message: at once only when the admin has nothing to read or do.
        "close_on_load": not (scopes_missing or verify_state or pending),
        "verify_state": verify_state,
        "verify_action": _path(request) + "/verify",
    }
    return render(request, "registered.html", context, framable=True, script_hashes=[CLOSE.csp_hash])


def _path(request: Request) -> str:
    """The request's path as its URL spells it: what `request.url.path` answers, without building the whole URL
    (host, query) and parsing it again, which cost about 20 µs a page."""
    path: str = request.scope["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


# What the admin can do about each way verification fails (by the refusal's status).
_VERIFY_NEXT_STEPS = {
    400: "Open the registration again from your LMS to verify it.",
    403: "Your platform no longer grants these services to the tool: check the tool's settings in your LMS.",
    409: "The first launch verifies this registration: add the tool to a course and open it once.",
}
# Refusals the admin can fix in the LMS (enable the tool, grant the services): the page offers one more try.
_VERIFY_AGAIN = frozenset({403, 502, 504})
_VERIFY_RETRY = "Check that the tool is enabled in your LMS, then verify again; if it keeps failing, tell its vendor."


async def verify(request: Request) -> Response:
    """The confirmation page's Verify button: a fresh service token grant, and what came of it."""
    try:
        tenant = await _tenant(request)
        state = (await form_fields(request)).get("state", "")
    except (errors.RegistrationError, UnreadableForm) as refusal:
        return refusal_page(request, refusal, framable=True)
    context: dict[str, object] = {
        "tool_name": tenant.name,
        "close_script": CLOSE.source,
        "verify_state": None,
        "describe_scope": descriptions.describe_scope,
    }
    status_code = 200
    tokens = services(request).tokens
    try:
        async with services(request).public_limits.outbound_call(tenant.id, client_address(request)):
            verification = await tokens.verify_form(tenant, state)
    except TooManyRequests as refusal:
        return refusal_page(request, refusal, framable=True)
    except Refusal as refusal:  # the token service's TokenRefused
        status_code = refusal.status_code
        next_step = _VERIFY_NEXT_STEPS.get(refusal.status_code, _VERIFY_RETRY)
        context |= {"verified": False, "title": refusal.title, "detail": refusal.detail, "next_step": next_step}
        if refusal.status_code in _VERIFY_AGAIN:
            retry = await tokens.next_verify_form_state(tenant, state)
            context |= {"verify_state": retry, "verify_action": _path(request)}
    else:
        scopes = verification.token.scope.split()
        context |= {"verified": True, "title": f"{tenant.name} works with your platform", "scopes": scopes}
    return render(
        request, "verification.html", context, status_code=status_code, framable=True,
        # A failure never closes the LMS's dialog: the admin must be able to read it.
        script_hashes=[CLOSE.csp_hash] if context["verified"] else [],
    )


# A tenant's public routes: under /t/{slug} on the base host, at the root of the tenant's own host.
routes = [
    Route(REGISTRATION_PATH, register, methods=["GET", "POST"]),
    Route(REGISTRATION_PATH + "/verify", limited(verify), methods=["POST"]),
]
