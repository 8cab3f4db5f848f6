"""A tiny built-in tool for `make run`: the demo tenant's launches land here, so a newcomer sees a launch end
to end without writing a tool. It does what a real tool does with the relayed `launch_token`: verifies it
with the tenant's published keys, checks it is addressed to this URL, and shows the claims (all escaped).
"""

from __future__ import annotations

import json
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from broker.launch.launch_token import LaunchTokenError, read_launch_token
from broker.lti import MESSAGE_TYPE
from broker.pages import render
from broker.refusals import Refusal, refusal_page
from broker.services import services

DEMO_SLUG = "demo"
PATH = "/demo/tool"


def demo_tool_url(base_url: str) -> str:
    return base_url + PATH


async def demo_tool(request: Request) -> Response:
    settings = services(request).settings
    keys = await services(request).key_ring.get(DEMO_SLUG)
    token = (await request.form()).get("launch_token")
    if keys is None or not isinstance(token, str):
        return _refused(request, "No launch_token was posted, or there is no demo tenant (run `broker demo`).")
    try:
        claims = read_launch_token(
            token, keys=keys.key_set(), issuer=settings.tenant_url(DEMO_SLUG), now=time.time()
        )
    except LaunchTokenError as error:
        return _refused(request, f"The launch_token was refused: {error.field}: {error.reason}.")
    if claims.get("aud") != demo_tool_url(settings.base_url):
        return _refused(request, "The launch_token is addressed to another tool.")
    lti = claims["lti"]
    context = {
        "title": "Demo tool: launched",
        "claims": {name: value for name, value in claims.items() if name != "lti"},
        "lti": json.dumps(lti, indent=2, sort_keys=True, ensure_ascii=False),
        "user": lti.get("name") or lti.get("sub") or "an anonymous user",
        "message_type": lti.get(MESSAGE_TYPE),
    }
    return render(request, "demo_tool.html", context, framable=True)


class DemoLaunchRefused(Refusal):
    title = "The demo tool could not read this launch"
    next_step = "Launch the tool again from your LMS course."


def _refused(request: Request, detail: str) -> Response:
    return refusal_page(request, DemoLaunchRefused(detail), framable=True)


routes = [Route(PATH, demo_tool, methods=["POST"])]
