"""A tiny built-in tool for `make run`: the demo tenant's launches land here, so a newcomer sees a launch end
to end without writing a tool. It does what a real tool does with the relayed `launch_token`: verifies it
with the tenant's published keys, checks it is addressed to this URL, and shows the claims (all escaped).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict

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
# Users the demo tool remembers (how often each launched), in this process; the oldest go first.
MAX_USERS = 1000


class Users:
    """Launch counts per user. A user is (platform issuer, sub), never `sub` alone: anyone may register a
    platform of their own, and its launches may carry any `sub`, someone else's from a real LMS included."""

    def __init__(self, size: int = MAX_USERS) -> None:
        self._size = size
        self._launches: OrderedDict[tuple[str, str], int] = OrderedDict()

    def launched(self, issuer: str, sub: str) -> int:
        """Counts this launch; returns how many this user has made."""
        key = (issuer, sub)
        count = self._launches.pop(key, 0) + 1
        self._launches[key] = count
        while len(self._launches) > self._size:
            self._launches.popitem(last=False)
        return count


USERS = Users()


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
    issuer, sub = str(lti.get("iss", "")), str(lti.get("sub", ""))
    context = {
        "issuer": issuer,
        "sub": sub,
        "launches": USERS.launched(issuer, sub),
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
