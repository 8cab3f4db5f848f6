"""The floor for the registration flow: a bare Starlette app doing only what the flow cannot do without.

It answers the same two requests as the broker (the initiation GET and the review form's POST), makes the same
two outbound calls (the platform's configuration, then the registration POST) with a bare aiohttp session, the
library under the broker's own outbound client, and renders the same two pages with Jinja2: the broker's own
review and confirmation pages, captured from it in the same run, with their changing values (form state,
client_id, deployment_id) as template variables. It keeps nothing: no database, no sealing, no checks, so the
broker's CPU per flow over this app's is what everything else costs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

REGISTER_PATH = "/t/{slug}/lti/register"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def write_templates(folder: Path, review: str, review_state: str, registered: str, verify_state: str) -> None:
    """The broker's two pages as templates: the form states and the platform's ids become variables."""
    (folder / "review.html").write_text(raw_template(review, {review_state: "state"}, uuids_as="client_id"))
    (folder / "registered.html").write_text(
        raw_template(registered, {verify_state: "verify_state"}, uuids_as="client_id")
    )


def raw_template(page: str, variables: dict[str, str], *, uuids_as: str = "") -> str:
    """`page` with each key of `variables` made the variable it names, and with `uuids_as` each UUID (the
    platform's ids) made that one; the rest is kept raw so that nothing in the page is read as template syntax."""
    pattern = re.compile("|".join([*map(re.escape, variables), *([UUID.pattern] if uuids_as else [])]))
    parts, start = [], 0
    for match in pattern.finditer(page):
        parts.append("{% raw %}" + page[start : match.start()] + "{% endraw %}")
        parts.append("{{ " + variables.get(match.group(), uuids_as) + " }}")
        start = match.end()
    parts.append("{% raw %}" + page[start:] + "{% endraw %}")
    return "".join(parts)


def registration_request(scope: str, base_url: str, slug: str) -> dict[str, Any]:
    tool = f"{base_url}/t/{slug}"
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool + "/lti/login",
        "redirect_uris": [tool + "/lti/launch"],
        "client_name": "Bench Tool",
        "jwks_uri": tool + "/.well-known/jwks.json",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": scope,
        TOOL_CONFIGURATION: {
            "domain": base_url.split("://", 1)[1],
            "target_link_uri": tool + "/lti/launch",
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
        },
    }


def create_app() -> Starlette:
    pages = Environment(
        loader=FileSystemLoader(os.environ["BENCH_FLOOR_PAGES"]), autoescape=select_autoescape(), enable_async=False
    )
    base_url = os.environ.get("BROKER_BASE_URL", "http://broker.bench")
    sessions: list[aiohttp.ClientSession] = []

    def client() -> aiohttp.ClientSession:
        # Made at the first request: a session belongs to the event loop it is made in.
        if not sessions:
            sessions.append(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)))
        return sessions[0]

    async def register(request: Request) -> Response:
        if request.method == "GET":
            token = request.query_params["registration_token"]
            async with client().get(
                request.query_params["openid_configuration"], headers={"Authorization": f"Bearer {token}"}
            ) as answer:
                answer.raise_for_status()
                document = await answer.json()
            scope = " ".join(scope for scope in document.get("scopes_supported", []) if scope != "openid")
            state = json.dumps({"token": token, "endpoint": document["registration_endpoint"], "scope": scope})
            return HTMLResponse(pages.get_template("review.html").render(state=state))
        form = await request.form()
        state = json.loads(str(form["state"]))
        async with client().post(
            state["endpoint"],
            json=registration_request(state["scope"], base_url, request.path_params["slug"]),
            headers={"Authorization": f"Bearer {state['token']}"},
        ) as answer:
            answer.raise_for_status()
            client_id = (await answer.json())["client_id"]
        page = pages.get_template("registered.html").render(client_id=client_id, verify_state=client_id)
        return HTMLResponse(page)

    return Starlette(routes=[Route(REGISTER_PATH, register, methods=["GET", "POST"])])
