"""Account pages: sign up, sign in and out, e-mail confirmation, password reset and change, invitations."""

from __future__ import annotations

from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from admin_ui.forms import client_address, form_values, local_path
from admin_ui.pages import render
from admin_ui.security import end_session, session_cookie, start_session
from broker.services import services
from broker.settings import settings_of
from tenants.accounts.audit import Actor
from tenants.accounts.links import Purpose
from tenants.accounts.mails import INVITATION_PATH, RESET_PASSWORD_PATH, VERIFY_EMAIL_PATH
from tenants.accounts.service import AccountError, Kind, LinkRefused, SignInRefused

HOME = {Kind.VENDOR: "/console/", Kind.OPERATOR: "/admin/"}
SIGN_IN_PAGE = {Kind.VENDOR: "/login", Kind.OPERATOR: "/admin/login"}


def _notice(request: Request, title: str, *paragraphs: str, link: tuple[str, str] | None = None,
            problem: str | None = None, status_code: int = 200) -> Response:  # fmt: skip
    context = {
        "title": title,
        "paragraphs": paragraphs,
        "problem": problem,
        "link": {"href": link[0], "text": link[1]} if link else None,
    }
    return render(request, "notice.html", context, status_code=status_code)


# Where a person whose link cannot be used gets a new one (an invitation only comes from an owner).
NEW_LINK = {
    Purpose.VERIFY_EMAIL: ("/login", "Sign in"),
    Purpose.RESET_PASSWORD: ("/reset-password", "Ask for a new link"),
}


def _link_refused(request: Request, error: LinkRefused, purpose: Purpose) -> Response:
    return _notice(request, "This link cannot be used", str(error), link=NEW_LINK.get(purpose), status_code=400)


async def signup(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "signup.html", {"title": "Sign up", "errors": {}, "values": {}})
    values = await form_values(request, "name", "slug", "email", "password")
    try:
        signed_up = await services(request).accounts.sign_up(
            email=values["email"],
            password=values["password"],
            slug=values["slug"],
            name=values["name"],
            client_address=client_address(request),
        )
    except AccountError as error:
        context: dict[str, object] = {"title": "Sign up", "errors": error.errors, "values": values}
        return render(request, "signup.html", context, status_code=400)
    context = {
        "title": "Check your inbox",
        "tenant": signed_up.created.tenant,
        "email": signed_up.account.email,
        "api_key": signed_up.created.api_key,
        "mail_error": signed_up.mail_error,
    }
    return render(request, "signup_done.html", context)


def _sign_in_page(request: Request, kind: Kind, *, values: dict[str, str], next_path: str,
                  message: str | None = None, message_ok: bool = False, unverified: bool = False,
                  status_code: int = 200) -> Response:  # fmt: skip
    context = {
        "title": "Sign in" if kind is Kind.VENDOR else "Operator sign-in",
        "heading": "Sign in" if kind is Kind.VENDOR else "Operator sign-in",
        "action": SIGN_IN_PAGE[kind],
        "vendor": kind is Kind.VENDOR,
        "values": {"email": values.get("email", "")},
        "next": next_path,
        "message": message,
        "message_ok": message_ok,
        "unverified": unverified,
    }
    return render(request, "login.html", context, status_code=status_code)


async def _sign_in(request: Request, kind: Kind) -> Response:
    if request.method == "GET":
        next_path = local_path(request.query_params.get("next", ""), HOME[kind])
        return _sign_in_page(request, kind, values={}, next_path=next_path)
    values = await form_values(request, "email", "password", "next")
    next_path = local_path(values["next"], HOME[kind])
    try:
        account = await services(request).accounts.sign_in(
            kind, values["email"], values["password"], client_address(request)
        )
    except SignInRefused as error:
        status = {"throttled": 429, "locked": 429}.get(error.reason, 401 if error.reason == "wrong" else 403)
        response = _sign_in_page(
            request, kind, values=values, next_path=next_path, message=str(error),
            unverified=error.reason == "unverified", status_code=status,
        )  # fmt: skip
        if error.retry_after:
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    settings = settings_of(request)
    token = await services(request).accounts.sessions.start(
        account.id, replacing=request.cookies.get(session_cookie(settings))
    )
    response = RedirectResponse(next_path if next_path.startswith(HOME[kind]) else HOME[kind], status_code=303)
    start_session(response, settings, token)
    return response


async def login(request: Request) -> Response:
    return await _sign_in(request, Kind.VENDOR)


async def operator_login(request: Request) -> Response:
    return await _sign_in(request, Kind.OPERATOR)


async def logout(request: Request) -> Response:
    settings = settings_of(request)
    account = getattr(request.scope.get("user"), "account", None)
    if account is not None:
        await services(request).accounts.audit.record(Actor(account, client_address(request)), "account.signed_out")
    await services(request).accounts.sessions.end(request.cookies.get(session_cookie(settings)))
    response = RedirectResponse("/", status_code=303)
    end_session(response, settings)
    return response


async def verify_email(request: Request) -> Response:
    # The link's GET only shows a button: mail scanners that open links must not spend them.
    if request.method == "GET":
        token = request.query_params.get("token", "")
        try:
            await services(request).accounts.check_link(token, Purpose.VERIFY_EMAIL)
        except LinkRefused as error:
            return _link_refused(request, error, Purpose.VERIFY_EMAIL)
        return render(request, "verify_email.html", {"title": "Confirm your e-mail address", "token": token})
    values = await form_values(request, "token")
    try:
        account = await services(request).accounts.verify_email(values["token"], client_address(request))
    except LinkRefused as error:
        return _link_refused(request, error, Purpose.VERIFY_EMAIL)
    return _notice(
        request, "Your e-mail address is confirmed", f"{account.email} is confirmed. Sign in to open your console.",
        link=("/login", "Sign in"),
    )  # fmt: skip


async def resend_verification(request: Request) -> Response:
    values = await form_values(request, "email")
    problem = await services(request).accounts.send_verification(values["email"])
    return _sign_in_page(
        request, Kind.VENDOR, values=values, next_path=HOME[Kind.VENDOR], message_ok=problem is None,
        message=problem or "If this address has an account waiting for confirmation, a new link is on its way.",
    )  # fmt: skip


async def reset_request(request: Request) -> Response:
    if request.method == "GET":
        return render(request, "reset_request.html", {"title": "Reset your password", "errors": {}, "values": {}})
    values = await form_values(request, "email")
    problem = await services(request).accounts.request_password_reset(values["email"])
    return _notice(
        request, "Check your inbox",
        "If an account has this address, a link to choose a new password is on its way. It works once, "
        "within an hour.", problem=problem and f"The mail could not be sent: {problem}",
    )  # fmt: skip


async def reset_confirm(request: Request) -> Response:
    if request.method == "GET":
        token = request.query_params.get("token", "")
        try:
            await services(request).accounts.check_link(token, Purpose.RESET_PASSWORD)
        except LinkRefused as error:
            return _link_refused(request, error, Purpose.RESET_PASSWORD)
        return render(request, "reset_confirm.html", {"title": "Choose a new password", "token": token, "errors": {}})
    values = await form_values(request, "token", "password")
    try:
        await services(request).accounts.reset_password(values["token"], values["password"], client_address(request))
    except LinkRefused as error:
        return _link_refused(request, error, Purpose.RESET_PASSWORD)
    except AccountError as error:
        context = {"title": "Choose a new password", "token": values["token"], "errors": error.errors}
        return render(request, "reset_confirm.html", context, status_code=400)
    response = _notice(
        request, "Your password is changed",
        "Every session of your account is signed out. Sign in with the new password.",
        link=("/login", "Sign in"),
    )  # fmt: skip
    end_session(response, settings_of(request))
    return response


async def _invitation_page(request: Request, token: str, *, errors: dict[str, str] | None = None,
                           message: str | None = None, status_code: int = 200) -> Response:  # fmt: skip
    try:
        invitation = await services(request).accounts.invitation(token)
    except LinkRefused as error:
        return _link_refused(request, error, Purpose.INVITATION)
    context = {
        "title": f"Join {invitation.tenant.name}",
        "tenant": invitation.tenant,
        "role": invitation.link.role,
        "email": invitation.link.email,
        "has_account": invitation.has_account,
        "token": token,
        "errors": errors or {},
        "message": message,
    }
    return render(request, "invitation.html", context, status_code=status_code)


async def accept_invitation(request: Request) -> Response:
    if request.method == "GET":
        return await _invitation_page(request, request.query_params.get("token", ""))
    values = await form_values(request, "token", "password")
    accounts = services(request).accounts
    try:
        account = await accounts.accept_invitation(values["token"], values["password"], client_address(request))
    except LinkRefused as error:
        return _link_refused(request, error, Purpose.INVITATION)
    except AccountError as error:
        return await _invitation_page(request, values["token"], errors=error.errors, status_code=400)
    except SignInRefused as error:
        return await _invitation_page(request, values["token"], message=str(error), status_code=401)
    settings = settings_of(request)
    token = await accounts.sessions.start(account.id, replacing=request.cookies.get(session_cookie(settings)))
    response = RedirectResponse("/console/", status_code=303)
    start_session(response, settings, token)
    return response


@requires("vendor", redirect="login")
async def account_page(request: Request) -> Response:
    return render(request, "account.html", {"title": "Your account", "errors": {}, "changed": False})


@requires("vendor", redirect="login")
async def change_password(request: Request) -> Response:
    values = await form_values(request, "current_password", "new_password")
    accounts = services(request).accounts
    actor = Actor(request.user.account, client_address(request))
    try:
        await accounts.change_password(actor, values["current_password"], values["new_password"])
    except AccountError as error:
        context = {"title": "Your account", "errors": error.errors, "changed": False}
        return render(request, "account.html", context, status_code=400)
    # Every session ended with the change; this browser gets a new one.
    settings = settings_of(request)
    token = await accounts.sessions.start(actor.account.id)
    response = render(request, "account.html", {"title": "Your account", "errors": {}, "changed": True})
    start_session(response, settings, token)
    return response


routes = [
    Route("/signup", signup, methods=["GET", "POST"], name="signup"),
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/admin/login", operator_login, methods=["GET", "POST"], name="operator_login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route(VERIFY_EMAIL_PATH, verify_email, methods=["GET", "POST"], name="verify_email"),
    Route(f"{VERIFY_EMAIL_PATH}/resend", resend_verification, methods=["POST"]),
    Route("/reset-password", reset_request, methods=["GET", "POST"], name="reset_password"),
    Route(RESET_PASSWORD_PATH, reset_confirm, methods=["GET", "POST"]),
    Route(INVITATION_PATH, accept_invitation, methods=["GET", "POST"]),
    Route("/account", account_page, methods=["GET"], name="account"),
    Route("/account/password", change_password, methods=["POST"]),
]
